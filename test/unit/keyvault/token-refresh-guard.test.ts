/**
 * The guard against the Azure SDK's unawaited background token refresh: without it, a process using
 * Key Vault clients ends when Entra ID is down until its token expires; with it, the process lives on
 * and logs the failure. Any other unhandled rejection still ends the process.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyncError } from '../../../src/keyvault/errors.ts';
import { guardTokenRefresh, isTokenRefreshFailure } from '../../../src/keyvault/token-refresh-guard.ts';

const child = join(import.meta.dirname, 'token-refresh-child.ts');
const run = (mode: string): { status: number | null; out: string } => {
  const r = spawnSync(process.execPath, [child, mode], { encoding: 'utf8', timeout: 90_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

describe('the background token-refresh guard', () => {
  it('an Entra ID outage past the token\'s end ends an unguarded process and leaves a guarded one running', () => {
    const unguarded = run('unguarded');
    expect(unguarded.out).not.toContain('survived');
    expect(unguarded.status).not.toBe(0);
    expect(unguarded.out).toMatch(/AuthenticationRequiredError|Failed to refresh access token/);
    const guarded = run('guarded');
    expect(guarded.out).toContain('warned: a background token refresh failed');
    expect(guarded.out).toContain('survived');
    expect(guarded.status).toBe(0);
  }, 200_000);

  it('recognises token failures only', () => {
    expect(isTokenRefreshFailure(new SyncError('AuthenticationFailed', 'no token'))).toBe(true);
    expect(isTokenRefreshFailure(new SyncError('AuthenticationTimeout', 'no token'))).toBe(true);
    expect(isTokenRefreshFailure(new SyncError('VaultUnavailable', 'down'))).toBe(false);
    expect(isTokenRefreshFailure(Object.assign(new Error('x'), { name: 'AuthenticationRequiredError' }))).toBe(true);
    expect(isTokenRefreshFailure(new Error('Failed to refresh access token.'))).toBe(true);
    expect(isTokenRefreshFailure(new TypeError('undefined is not a function'))).toBe(false);
    expect(isTokenRefreshFailure('a string')).toBe(false);
  });

  it('rethrows any other rejection (the process still ends) and can be removed', () => {
    const handlers: ((reason: unknown) => void)[] = [];
    const proc = { on: (_e: string, h: (reason: unknown) => void) => handlers.push(h), off: () => handlers.pop() } as unknown as Pick<NodeJS.Process, 'on' | 'off'>;
    const warned: string[] = [];
    const remove = guardTokenRefresh({ warn: (_o, m) => warned.push(m) }, proc);
    const handler = handlers[0];
    expect(handler).toBeDefined();
    handler?.(new SyncError('AuthenticationFailed', 'no token'));
    handler?.(new SyncError('AuthenticationFailed', 'no token'));
    expect(warned).toHaveLength(1);
    const other = new TypeError('a bug');
    expect(() => handler?.(other)).toThrow(other);
    remove();
    expect(handlers).toHaveLength(0);
  });
});

/**
 * Log lines of the installed `kvsync mount` (a vault that refuses connections, so it logs a start line
 * and fetch failures): readable on a terminal (a pseudo-terminal from util-linux `script`), JSON into a
 * pipe, and `--log-format` overrides either.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKvsync, stopProcess, type InstalledKvsync } from '../../support/installed-command.ts';

let kvsync: InstalledKvsync;
let dir: string;

beforeAll(async () => {
  kvsync = await installKvsync();
  dir = mkdtempSync(join(tmpdir(), 'kvsync-log-format-'));
}, 150_000);

afterAll(() => {
  kvsync?.remove();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const spec = JSON.stringify({
  apiVersion: 'kvsync.dev/v1alpha1',
  kind: 'KeyVaultSync',
  metadata: { name: 'web', namespace: 'web' },
  spec: {
    vault: { url: 'https://127.0.0.1:1', tenantID: '00000000-0000-0000-0000-000000000000' },
    identity: { workloadIdentity: { serviceAccountName: 'web' } },
    objects: [{ name: 'db-password', type: 'secret' }],
  },
});
const identityEnv = { AZURE_CLIENT_ID: '11111111-1111-1111-1111-111111111111', AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000000', AZURE_FEDERATED_TOKEN_FILE: '/nonexistent/token' };

/**
 * Runs a command line until its output holds `lines` lines, then stops it; returns those lines. A line
 * `pid N` (the terminal case prints it) names a process to stop too: `script` leaves its child behind.
 */
function firstLines(file: string, args: string[], lines: number): Promise<string[]> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { env: { ...kvsync.env, ...identityEnv }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const outputLines = (): string[] => out.replaceAll('\r', '').split('\n').filter((l) => l !== '' && !l.startsWith('pid '));
    const timer = setTimeout(() => finish(new Error(`no ${lines} lines within 45 s: ${out}`)), 45_000);
    let finished = false;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const inner = /^pid (\d+)/m.exec(out)?.[1];
      // The command first (while its terminal still exists, so it can log its stop), then `script`.
      void stopProcess(inner === undefined ? undefined : Number(inner)).then(() => stopProcess(-(child.pid ?? 0))).then(() => {
        if (err !== undefined) fail(err);
        else done(outputLines().slice(0, lines));
      });
    };
    const collect = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      if (outputLines().length >= lines) finish();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('exit', () => setTimeout(() => finish(new Error(`exited early: ${out}`)), 100));
  });
}

const mountArgs = ['mount', '--spec-json', spec, '--dir', 'out', '--allowed-vault-hosts', '127.0.0.1:1'];
const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
/** `script`'s arguments: ARGS run on a pseudo-terminal, after printing their pid. */
const onTerminal = (args: string[]): string[] => ['-qec', `echo "pid $$"; exec ${args.map(shellQuote).join(' ')}`, '/dev/null'];

describe('kvsync mount log lines', { timeout: 60_000 }, () => {
  it('on a terminal: one readable line per record, no JSON', async () => {
    const lines = await firstLines('script', onTerminal(['kvsync', ...mountArgs]), 2);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}kvsync-mount: starting vault=https:\/\/127\.0\.0\.1:1 /);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d WARN {2}kvsync-mount: first fetch failed; not ready yet reasons=\["VaultUnreachable: /);
  });

  it('into a pipe: JSON lines', async () => {
    const lines = await firstLines('kvsync', mountArgs, 2);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 30, name: 'kvsync-mount', msg: 'starting' });
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ level: 40, msg: 'first fetch failed; not ready yet' });
  });

  it('--log-format text into a pipe, --log-format json on a terminal', async () => {
    const text = await firstLines('kvsync', [...mountArgs, '--log-format', 'text'], 1);
    expect(text[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}kvsync-mount: starting /);
    const json = await firstLines('script', onTerminal(['kvsync', ...mountArgs, '--log-format', 'json']), 1);
    expect(JSON.parse(json[0] ?? '')).toMatchObject({ name: 'kvsync-mount', msg: 'starting' });
  });

  it('a bad --log-format is a usage error naming the flag', async () => {
    const result = await kvsync.run([...mountArgs, '--log-format', 'yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^kvsync mount: --log-format must be json, text or auto, got "yaml"\n/);
  });
});

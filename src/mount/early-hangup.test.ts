/**
 * `kvsync mount` survives a SIGHUP that arrives before it installed its refresh handler (a restarted
 * sidecar signalled at once): Node's default action for SIGHUP would end it. The spec is read from a
 * FIFO, so the test knows the process is inside the command, past loading its modules and before its
 * handler, while the signal lands: opening the FIFO for writing completes only once the sidecar opened
 * it to read, and it stays blocked there until the test writes the spec.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../util/poll.ts';
import { startMountProcess, type MountProcess } from '../../test/support/mount-process.ts';

let work = '';
let sidecar: MountProcess | undefined;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'kvsync-early-hangup-'));
});

afterEach(async () => {
  sidecar?.child.kill('SIGKILL');
  await sidecar?.exit;
  sidecar = undefined;
  rmSync(work, { recursive: true, force: true });
});

describe('kvsync mount and an early SIGHUP', () => {
  it('a SIGHUP while the sidecar reads its spec (before its own handler) neither ends it nor stops it from starting', async () => {
    const fifo = join(work, 'spec.json');
    execFileSync('mkfifo', [fifo]);
    const spec = { vault: { name: 'devkv', tenantID: '00000000-0000-0000-0000-000000000000' }, identity: { podIdentity: { identityRef: 'pod' } }, objects: [{ name: 'value', type: 'secret' }], refreshInterval: '10s' };
    // IMDS on a closed local port: the first fetch fails at once, which a sidecar survives (logged, retried).
    const s = startMountProcess(['--spec-file', fifo, '--dir', join(work, 'files')], { AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:9' });
    sidecar = s;
    const writer = await open(fifo, 'w');
    try {
      expect(s.child.kill('SIGHUP')).toBe(true);
      await writer.writeFile(JSON.stringify(spec));
    } finally {
      await writer.close();
    }
    await pollUntil(() => (s.lines.some((l) => l.includes('first fetch failed')) || s.child.exitCode !== null || s.child.signalCode !== null ? true : undefined), {
      timeoutMs: 15_000,
      description: 'the sidecar to start its first round, or to end',
    });
    expect({ code: s.child.exitCode, signal: s.child.signalCode }).toEqual({ code: null, signal: null });
    expect(s.lines.some((l) => l.includes('"msg":"starting"'))).toBe(true);
    // Its own handler is in place by now: a SIGHUP refreshes, and SIGTERM still stops it (exit 0).
    s.child.kill('SIGHUP');
    await pollUntil(() => (s.lines.some((l) => l.includes('refreshing now')) ? true : undefined), { timeoutMs: 10_000, description: 'the refresh a SIGHUP asks for' });
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});

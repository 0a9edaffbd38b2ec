import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startControlPlane } from '../../../src/dev/control-plane.ts';
import { ControlPlaneError } from '../../../src/dev/errors.ts';
import { SupervisedProcess } from '../../../src/dev/supervised-process.ts';
import { pollUntil } from '../../../src/util/poll.ts';

/** Waits until `proc` has died and returns the error `assertRunning` reports for it. */
function deathOf(proc: SupervisedProcess, description: string): Promise<unknown> {
  return pollUntil(
    () => {
      try {
        proc.assertRunning();
        return undefined;
      } catch (e) {
        return e;
      }
    },
    { timeoutMs: 20_000, description },
  );
}

describe('control plane start failures give one clear error', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('names the port and the flag when the requested apiserver port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      process.env.KVSYNC_KUBE_BIN_DIR = inject('kubeBinDir');
      const err = await startControlPlane({ apiserverPort: port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ControlPlaneError);
      expect((err as ControlPlaneError).reason).toBe('PortInUse');
      expect((err as Error).message).toContain(`port ${port}`);
      expect((err as Error).message).toContain('--apiserver-port');
    } finally {
      delete process.env.KVSYNC_KUBE_BIN_DIR;
      blocker.close();
    }
  });

  it('reports a process that dies during start with the tail of its log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-died-'));
    dirs.push(dir);
    const bin = inject('kubeBinDir');
    const proc = new SupervisedProcess('etcd', join(bin, 'leash'), join(bin, 'etcd'), ['--no-such-flag'], join(dir, 'etcd.log'));
    const err = await deathOf(proc, 'etcd to exit on a bad flag');
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as ControlPlaneError).reason).toBe('ProcessExited');
    expect((err as Error).message).toMatch(/etcd exited with code \d+ during start/);
    expect((err as Error).message).toContain(join(dir, 'etcd.log'));
  });

  it('recognises a process that died because its port is taken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-busy-'));
    dirs.push(dir);
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const bin = inject('kubeBinDir');
      const proc = new SupervisedProcess('etcd', join(bin, 'leash'), join(bin, 'etcd'), [
        `--data-dir=${join(dir, 'data')}`,
        `--listen-client-urls=http://127.0.0.1:${port}`,
        `--advertise-client-urls=http://127.0.0.1:${port}`,
        '--listen-peer-urls=http://127.0.0.1:0',
      ], join(dir, 'etcd.log'));
      const err = await deathOf(proc, 'etcd to exit on a busy port');
      expect((err as ControlPlaneError).reason).toBe('PortInUse');
      expect((err as Error).message).toContain('a port it needs is in use');
    } finally {
      blocker.close();
    }
  });
});

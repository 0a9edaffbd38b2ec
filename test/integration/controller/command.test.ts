/**
 * `kvsync controller` as a process: it starts against the real control plane and the emulator's
 * endpoints file, serves /healthz and /readyz, syncs, logs JSON without values, and shuts down
 * cleanly on SIGTERM (exit 0, lease released).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { conditionOf, createCredentialsSecret, startWorld, syncApi, syncSpec, type TestWorld } from './support.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };

describe('kvsync controller (spawned)', () => {
  const kc = kubeConfig();
  const syncs = syncApi(kc);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  let world: TestWorld;
  let ns = '';
  let opNs = '';
  let child: ChildProcess | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    await installCrds(kc);
    world = await startWorld();
    ns = await createTestNamespace(kc, 'ctl-cli');
    opNs = await createTestNamespace(kc, 'ctl-cli-op');
    await createCredentialsSecret(kc, ns, world);
  });

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await world?.emu.stop();
    if (ns !== '') await deleteTestNamespace(kc, ns);
    if (opNs !== '') await deleteTestNamespace(kc, opNs);
  });

  it('runs, syncs, serves health and stops gracefully on SIGTERM', async () => {
    child = spawn(
      process.execPath,
      ['src/cli.ts', 'controller', '--kubeconfig', inject('kubeconfig'), '--azure-endpoints', world.endpointsFile, '--namespace', opNs, '--watch-namespace', ns, '--health-addr', '127.0.0.1:0', '--concurrency', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l !== ''));
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    const started = await pollUntil(
      () => lines.map((l) => JSON.parse(l) as { msg?: string; health?: string }).find((l) => l.msg === 'controller started'),
      { ...WAIT, description: 'the "controller started" log line', isFatal: () => child?.exitCode !== null },
    );
    const base = `http://${started.health ?? ''}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await pollUntil(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), { ...WAIT, description: '/readyz' });

    await syncs.create(ns, 'cli', syncSpec(world, {
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName: 'cli-db', type: 'Opaque', data: [{ objectName: 'db-password' }] }],
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'cli'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'cli Ready' });
    await pollUntil(async () => ((await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: opNs })).spec?.holderIdentity ? true : undefined), { ...WAIT, description: 'the lease held' });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lease = await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: opNs });
    expect(lease.spec?.holderIdentity ?? '').toBe('');
    const all = lines.join('\n');
    expect(all).toContain('"msg":"synced"');
    expect(all).toContain('"msg":"controller stopped"');
    expect(all).not.toContain('correct-horse');
    for (const l of lines) expect(() => JSON.parse(l) as unknown).not.toThrow();
  });
});

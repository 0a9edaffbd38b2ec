/**
 * Fault matrix, the controller process: the real controller (a process of its own, as `kvsync
 * controller` runs) SIGKILLed at each named step of a sync and restarted, and a leader frozen
 * (SIGSTOP) past its lease while another replica takes over. A watch records every state of every
 * Secret for the whole row; each must be a complete render of one generation the vault held, never
 * older than one already seen.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncStep } from '../../src/controller/sync-observer.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, syncApi } from '../integration/controller/support.ts';
import { startReliabilityWorld, startScene, type ReliabilityWorld, type Scene } from './support/world.ts';

describe('fault matrix: the controller process', () => {
  let rw: ReliabilityWorld;
  const scenes: Scene[] = [];

  beforeAll(async () => {
    rw = await startReliabilityWorld('controller-process');
  });

  afterAll(async () => {
    for (const s of scenes) await s.stop();
    await rw?.stop();
  });

  const STEPS: { step: SyncStep; row: string }[] = [
    { step: 'fetched', row: 'kill-fetched' },
    { step: 'secretWritten', row: 'kill-between' },
    { step: 'beforeStatus', row: 'kill-status' },
  ];

  it.each(STEPS)('SIGKILL at step $step, then restart: converges to the newest versions, no Secret ever holds a mix or a stale generation', async ({ step, row }) => {
    const scene = await startScene(rw, row);
    scenes.push(scene);
    try {
      await killAtStep(scene, step, row);
    } finally {
      await scene.stop();
    }
  });

  async function killAtStep(scene: Scene, step: SyncStep, row: string): Promise<void> {
    // Generation 0 synced by a first controller, which then dies.
    const first = scene.controller({ identity: `${row}-1` });
    await scene.converged(0, 'generation 0 synced');
    await first.kill();

    // Generation 1: the next controller is frozen at the step in its sync of it, and killed there.
    await scene.vault.rotate();
    const second = scene.controller({ identity: `${row}-2`, stopAt: { step, key: scene.key } });
    const at = await second.waitStoppedAtStep();
    expect(at.versions[`${row}-pass`]).toBe(scene.vault.version(`${row}-pass`, 1));
    if (step === 'secretWritten') {
      // Frozen between the two writes: the first Secret holds generation 1, the second still 0.
      expect(at.secret).toBe('alpha');
      const core = rw.kc.makeApiClient(k8s.CoreV1Api);
      const alpha = await core.readNamespacedSecret({ namespace: scene.ns, name: 'alpha' });
      const beta = await core.readNamespacedSecret({ namespace: scene.ns, name: 'beta' });
      expect(Buffer.from(alpha.data?.password ?? '', 'base64').toString()).toBe(scene.vault.value(`${row}-pass`, 1));
      expect(Buffer.from(beta.data?.password ?? '', 'base64').toString()).toBe(scene.vault.value(`${row}-pass`, 0));
    }
    await second.kill();

    // Generation 2 arrives while no controller runs; the restarted one converges on it.
    await scene.vault.rotate();
    const restarted = performance.now();
    scene.controller({ identity: `${row}-3` });
    const tookMs = await scene.converged(2, 'generation 2 synced after the restart');
    console.log(`[fault matrix] controller SIGKILLed at ${step}: converged ${(tookMs / 1000).toFixed(1)} s after the restart (${((performance.now() - restarted) / 1000).toFixed(1)} s incl. process start)`);

    const obj = await syncApi(rw.kc).get(scene.ns, 'app');
    expect(conditionOf(obj, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(conditionOf(obj, 'Synced')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(scene.violations()).toEqual([]);
    // Every Secret was seen holding the newest generation, and none was ever deleted.
    expect(scene.history.states.filter((s) => s.type === 'DELETED')).toEqual([]);
  }

  it('a leader frozen (SIGSTOP) past its lease and resumed writes nothing: the other replica took over and its writes stand', async () => {
    const row = 'frozen-leader';
    const scene = await startScene(rw, row);
    scenes.push(scene);
    try {
      await frozenLeader(scene, row);
    } finally {
      await scene.stop();
    }
  });

  async function frozenLeader(scene: Scene, row: string): Promise<void> {
    const syncs = syncApi(rw.kc);
    const coordination = rw.kc.makeApiClient(k8s.CoordinationV1Api);

    // Replica a leads and freezes between its two Secret writes of generation 0; b waits as follower.
    const a = scene.controller({ identity: `${row}-a`, stopAt: { step: 'secretWritten', key: scene.key } });
    await a.waitLeading();
    const b = scene.controller({ identity: `${row}-b` });
    await b.waitFor('started', (r): r is typeof r => r.harness === 'started');
    await a.waitStoppedAtStep();
    const frozenAt = performance.now();

    // While a is frozen, the vault rotates; b takes the lease over once a's expires, and syncs generation 1.
    await scene.vault.rotate();
    await b.waitLeading();
    const tookMs = await scene.converged(1, 'replica b synced generation 1');
    console.log(`[fault matrix] leader SIGSTOPped: replica b converged ${((performance.now() - frozenAt) / 1000).toFixed(1)} s after the freeze (${(tookMs / 1000).toFixed(1)} s after it led)`);
    const statusBefore = (await syncs.get(scene.ns, 'app')).metadata?.resourceVersion;

    // a resumes exactly where it froze: with the old code it would write beta (generation 0) and status next.
    const resumed = Date.now();
    a.signal('SIGCONT');
    await a.waitFor('a knows it lost the lease', (r): r is typeof r => r.harness === 'leader' && !r.leader);
    // Time for anything a had in flight to land: b renews the lease twice after a resumed.
    const renewals = new Set<string>();
    await pollUntil(async () => {
      const lease = await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: scene.opNs });
      if (lease.spec?.holderIdentity === b.identity && lease.metadata?.resourceVersion !== undefined) renewals.add(lease.metadata.resourceVersion);
      return renewals.size >= 3 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200, description: 'replica b to renew the lease after a resumed' });

    expect(scene.history.after(resumed), 'no Secret write after the frozen leader resumed').toEqual([]);
    expect((await syncs.get(scene.ns, 'app')).metadata?.resourceVersion, 'no status write after the frozen leader resumed').toBe(statusBefore);
    expect(scene.violations()).toEqual([]);
    expect(a.running).toBe(true);
    expect(a.steps().filter((s) => s.step === 'beforeStatus')).toEqual([]);
    await scene.converged(1, 'generation 1 still in place', { timeoutMs: 10_000, intervalMs: 200 });
  }
});

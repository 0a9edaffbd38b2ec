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
import { IDENTITY_READ_TTL_MS } from '../../src/keyvault/credentials.ts';
import { conditionOf, createCredentialsSecret, syncApi } from '../integration/controller/support.ts';
import type { ControllerProcess } from './support/controller-process.ts';
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

  /** A row whose sync is held at `step` while the test deletes something, then resumed; the process must live on. */
  async function deletedInFlight(row: string, step: SyncStep, remove: (scene: Scene) => Promise<void>, after: (scene: Scene, resumed: number, held: ControllerProcess) => Promise<void>, spec: Record<string, unknown> = {}): Promise<void> {
    const scene = await startScene(rw, row, spec);
    scenes.push(scene);
    let failed = true;
    try {
      const held = scene.controller({ identity: row, stopAt: { step, key: scene.key } });
      await held.waitStoppedAtStep();
      await remove(scene);
      const resumed = performance.now();
      held.signal('SIGCONT');
      await after(scene, resumed, held);
      expect(held.running, 'no crash').toBe(true);
      expect(held.logged('unexpected reconcile error')).toEqual([]);
      expect(scene.violations()).toEqual([]);
      failed = false;
    } finally {
      await scene.stop(failed);
    }
  }

  const secretNames = async (ns: string): Promise<string[]> =>
    (await rw.kc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: ns })).items.map((s) => s.metadata?.name ?? '').filter((n) => n === 'alpha' || n === 'beta').sort();

  it('the KeyVaultSync deleted (deletionPolicy Delete) between two Secret writes: no Secret outlives it, none comes back once gone', () =>
    deletedInFlight('deleted-sync', 'secretWritten', (scene) => syncApi(rw.kc).delete(scene.ns, 'app'), async (scene, resumed, held) => {
      // The resumed sync has sent every Secret write it makes once it reaches the step before its status
      // (the garbage collector may have removed the first Secret, and the second not be written yet, before).
      await pollUntil(() => (held.steps().some((r) => r.step === 'beforeStatus' && r.key === scene.key) ? true : undefined), { timeoutMs: 60_000, intervalMs: 100, description: 'the resumed sync past its Secret writes' });
      // The in-flight write carries the deleted KeyVaultSync's UID: the garbage collector removes that Secret too.
      // Gone from the apiserver, and the watch has seen each go (it may lag a list by a moment).
      const names = ['alpha', 'beta'];
      await pollUntil(
        async () => ((await secretNames(scene.ns)).length === 0 && names.every((n) => scene.history.of(n).at(-1)?.type === 'DELETED') ? true : undefined),
        { timeoutMs: 120_000, intervalMs: 200, description: 'no Secret left, and the watch saw each deleted' },
      );
      const resumedAt = Date.now() - (performance.now() - resumed);
      const seen = scene.history.states.filter((s) => names.includes(s.name) && s.at >= resumedAt).map((s) => `${s.name} ${s.type} +${((s.at - resumedAt) / 1000).toFixed(1)} s`);
      console.log(`[fault matrix] KeyVaultSync deleted at secretWritten: its Secrets gone ${((performance.now() - resumed) / 1000).toFixed(1)} s after the sync resumed (${seen.join(', ')})`);
      for (const name of names) {
        const states = scene.history.of(name);
        expect(states.length, `${name} was written`).toBeGreaterThan(0);
        const deletedAt = states.findIndex((s) => s.type === 'DELETED');
        expect(deletedAt, `${name} deleted`).toBeGreaterThanOrEqual(0);
        expect(states.slice(deletedAt + 1), `${name} written again after its deletion`).toEqual([]);
      }
      expect(await secretNames(scene.ns)).toEqual([]);
    }));

  it('the KeyVaultSync deleted (deletionPolicy Retain) between two Secret writes: both Secrets stay, complete and without an owner', () =>
    deletedInFlight('retained-sync', 'secretWritten', (scene) => syncApi(rw.kc).delete(scene.ns, 'app'), async (scene) => {
      await pollUntil(async () => ((await secretNames(scene.ns)).length === 2 ? true : undefined), { timeoutMs: 120_000, intervalMs: 200, description: 'beta written' });
      const core = rw.kc.makeApiClient(k8s.CoreV1Api);
      for (const name of ['alpha', 'beta']) {
        const secret = await core.readNamespacedSecret({ namespace: scene.ns, name });
        expect(secret.metadata?.ownerReferences ?? []).toEqual([]);
      }
      expect(scene.history.states.filter((s) => s.type === 'DELETED')).toEqual([]);
    }, { deletionPolicy: 'Retain' }));

  it('the namespace deleted after the fetch: the write fails quietly, the namespace goes, the controller lives on', () =>
    deletedInFlight('deleted-namespace', 'fetched', (scene) => rw.kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: scene.ns }).then(() => undefined), async (scene, resumed) => {
      await pollUntil(async () => ((await rw.kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: scene.ns }).then(() => false, () => true)) ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, description: 'the namespace gone' });
      console.log(`[fault matrix] namespace deleted at fetched: gone ${((performance.now() - resumed) / 1000).toFixed(1)} s after the sync resumed`);
    }));

  it('the identity (service principal Secret) deleted after the fetch: that sync completes, a later one fails IdentityNotFound and keeps the Secrets, and it recovers when the identity is back', () =>
    deletedInFlight('deleted-identity', 'fetched', (scene) => rw.kc.makeApiClient(k8s.CoreV1Api).deleteNamespacedSecret({ namespace: scene.ns, name: 'kv-creds' }).then(() => undefined), async (scene) => {
      await scene.converged(0, 'the in-flight sync completed');
      const deleted = performance.now();
      // The identity Secret's read is kept for IDENTITY_READ_TTL_MS (shared by every KeyVaultSync using it):
      // a refresh after that finds it gone.
      const failed = await pollUntil(async () => {
        const ready = conditionOf(await syncApi(rw.kc).get(scene.ns, 'app'), 'Ready');
        return ready?.status === 'False' ? ready : undefined;
      }, { timeoutMs: IDENTITY_READ_TTL_MS + 120_000, intervalMs: 500, description: 'Ready False' });
      console.log(`[fault matrix] identity deleted at fetched: Ready False (${failed.reason}) ${((performance.now() - deleted) / 1000).toFixed(1)} s after`);
      // Rotated while no sync can read the vault (two objects are never rotated at one instant).
      await scene.vault.rotate();
      expect(failed.reason).toBe('IdentityNotFound');
      // The Secrets of the last good sync stay.
      expect(await secretNames(scene.ns)).toEqual(['alpha', 'beta']);
      await createCredentialsSecret(rw.kc, scene.ns, rw.world);
      const tookMs = await scene.converged(1, 'recovered once the identity is back');
      console.log(`[fault matrix] identity deleted at fetched: recovered ${(tookMs / 1000).toFixed(1)} s after it was restored`);
      expect(scene.history.states.filter((s) => s.type === 'DELETED' && s.name in scene.render)).toEqual([]);
    }, { refreshInterval: '10s' }));

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

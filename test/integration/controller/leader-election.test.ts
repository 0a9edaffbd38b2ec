/**
 * Two controllers with leader election on a real coordination.k8s.io Lease: only the leader writes
 * (every Event about the KeyVaultSync comes from it), and the other takes over after the leader stops.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { conditionOf, createCredentialsSecret, runController, startWorld, syncApi, syncSpec, type TestWorld } from './support.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
// The default lease and renew deadline: a renewal slowed by a busy machine must not move the lease, and no step
// here waits for one to expire (a stopped replica releases it; a new holder is seen at the next retry).
const TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 500 };

describe('leader election between two kvsync controllers', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const syncs = syncApi(kc);
  let world: TestWorld;
  let ns = '';
  let opNs = '';
  let first: RunningController | undefined;
  let second: RunningController | undefined;

  const reporters = async (): Promise<string[]> => {
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=app' });
    return events.items.map((e) => e.reportingInstance ?? '');
  };

  beforeAll(async () => {
    await installCrds(kc);
    world = await startWorld();
    ns = await createTestNamespace(kc, 'ctl-le');
    opNs = await createTestNamespace(kc, 'ctl-le-op');
    await createCredentialsSecret(kc, ns, world);
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await world?.emu.stop();
    if (ns !== '') await deleteTestNamespace(kc, ns);
    if (opNs !== '') await deleteTestNamespace(kc, opNs);
  });

  it('lets only the leader write, and hands over when the leader stops', async () => {
    first = await runController(kc, world, { namespace: opNs, watchNamespace: ns, identity: 'replica-a', ...TIMINGS });
    await pollUntil(() => (first?.isLeader() === true ? true : undefined), { ...WAIT, description: 'replica-a to lead' });
    second = await runController(kc, world, { namespace: opNs, watchNamespace: ns, identity: 'replica-b', ...TIMINGS });

    await syncs.create(ns, 'app', syncSpec(world, {
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password' }] }],
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'app'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'app Ready' });
    // A first sync's creations make no Event; a spec change that rewrites the Secret makes one (Updated).
    await syncs.patch(ns, 'app', { spec: { secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'pw' }] }] } });
    await pollUntil(async () => ((await reporters()).length > 0 ? true : undefined), { ...WAIT, description: 'an event about app' });

    // Several renew periods pass with both running: the lease stays with replica-a.
    await pollUntil(
      async () => {
        const lease = await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: opNs });
        return lease.metadata?.resourceVersion !== undefined && Number(lease.spec?.leaseTransitions ?? 0) === 0 && (await leaseRenewals(opNs)) >= 4 ? lease : undefined;
      },
      { ...WAIT, description: 'the lease to be renewed a few times' },
    );
    expect((await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: opNs })).spec?.holderIdentity).toBe('replica-a');
    expect(second.isLeader()).toBe(false);
    expect(new Set(await reporters())).toEqual(new Set(['replica-a']));

    await first.stop();
    first = undefined;
    await pollUntil(() => (second?.isLeader() === true ? true : undefined), { ...WAIT, description: 'replica-b to take over' });
    const lease = await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: opNs });
    expect(lease.spec?.holderIdentity).toBe('replica-b');
    expect(lease.spec?.leaseTransitions).toBe(1);

    // The new leader reconciles: a spec change is synced and reported by replica-b.
    await syncs.patch(ns, 'app', { spec: { secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }] } });
    await pollUntil(async () => {
      const secret = await core.readNamespacedSecret({ name: 'db', namespace: ns });
      return secret.data?.password !== undefined && secret.data['db-password'] === undefined ? true : undefined;
    }, { ...WAIT, description: 'replica-b to write the new key' });
    await pollUntil(async () => ((await reporters()).includes('replica-b') ? true : undefined), { ...WAIT, description: 'an event from replica-b' });
  });

  it('steps down at once (isLeader gates every write) when another holder takes the lease, and leads again when it is free', async () => {
    const replica = await runController(kc, world, { namespace: opNs, watchNamespace: ns, identity: 'replica-c', leaseName: 'kvsync-steal', ...TIMINGS });
    try {
      await pollUntil(() => (replica.isLeader() ? true : undefined), { ...WAIT, description: 'replica-c to lead' });
      const micro = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
      await coordination.patchNamespacedLease(
        { name: 'kvsync-steal', namespace: opNs, body: { spec: { holderIdentity: 'intruder', leaseDurationSeconds: 3600, renewTime: micro } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await pollUntil(() => (replica.isLeader() ? undefined : true), { ...WAIT, description: 'replica-c to step down' });
      expect((await coordination.readNamespacedLease({ name: 'kvsync-steal', namespace: opNs })).spec?.holderIdentity).toBe('intruder');

      await coordination.deleteNamespacedLease({ name: 'kvsync-steal', namespace: opNs });
      await pollUntil(() => (replica.isLeader() ? true : undefined), { ...WAIT, description: 'replica-c to lead again' });
    } finally {
      await replica.stop();
    }
  });

  /** Renewals seen so far: the lease's resourceVersion changes on each; counted by polling. */
  const seenVersions = new Set<string>();
  async function leaseRenewals(namespace: string): Promise<number> {
    const lease = await coordination.readNamespacedLease({ name: 'kvsync-controller', namespace });
    if (lease.metadata?.resourceVersion !== undefined) seenVersions.add(lease.metadata.resourceVersion);
    return seenVersions.size;
  }
});

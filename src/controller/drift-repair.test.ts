/** Drift repair and the MAC record it reads, without a cluster (the integration test runs both on one). */
import type * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DriftRepair, type DriftCause, type DriftRepairDeps } from './drift-repair.ts';
import { CLUSTER_SYNC_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
import { dataMac } from './mac.ts';
import type { KeyVaultSyncObject } from './reconciler.ts';
import { WrittenMacs } from './written-macs.ts';

const macKey = Buffer.alloc(32, 7);
const mac = (value: string): string => dataMac(macKey, { namespace: 'shop', name: 'web-db', type: 'Opaque' }, { PASSWORD: Buffer.from(value) });

function secret(value: string): k8s.V1Secret {
  return {
    metadata: { name: 'web-db', namespace: 'shop', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [SYNC_LABEL]: 'web' } },
    type: 'Opaque',
    data: { PASSWORD: Buffer.from(value).toString('base64') },
  };
}

/** Drift repair of the KeyVaultSync `shop/web`, on a replica that leads while `leader.now` is true. */
function world(status?: KeyVaultSyncObject['status']) {
  const sync: KeyVaultSyncObject = { metadata: { name: 'web', namespace: 'shop' }, ...(status === undefined ? {} : { status }) };
  return withDeps((deps) => DriftRepair.forKeyVaultSyncs({ ...deps, getSync: (ns, name) => (ns === 'shop' && name === 'web' ? sync : undefined) }));
}

function withDeps(make: (deps: DriftRepairDeps) => DriftRepair) {
  const written = new WrittenMacs();
  const enqueued: string[] = [];
  const causes: DriftCause[] = [];
  const logged: string[] = [];
  const leader = { now: true };
  const drift = make({
    isLeader: () => leader.now,
    written,
    macKey,
    enqueue: (key) => void enqueued.push(key),
    log: pino({ level: 'info' }, { write: (line: string) => void logged.push(line) }),
    onRepair: (cause) => void causes.push(cause),
  });
  return { written, drift, enqueued, causes, logged, leader };
}

/** A write whose response the test releases: the watch event of the write can come first. */
function pendingWrite(): { write: () => Promise<string>; respond: () => void; fail: () => void } {
  let respond = (): void => undefined;
  let fail = (): void => undefined;
  const promise = new Promise<string>((resolve, reject) => {
    respond = () => resolve('updated');
    fail = () => reject(new Error('HTTP 500'));
  });
  return { write: () => promise, respond, fail };
}

describe('DriftRepair', () => {
  it("never repairs kvsync's own write, even when its watch event arrives before the write's response", async () => {
    const w = world();
    await w.written.write('shop', 'web-db', mac('v1'), () => Promise.resolve('created'));
    for (let i = 2; i <= 20; i++) {
      const p = pendingWrite();
      const done = w.written.write('shop', 'web-db', mac(`v${i}`), p.write);
      expect(w.drift.secretChanged(secret(`v${i}`), false)).toBe(false);
      p.respond();
      await done;
      expect(w.drift.secretChanged(secret(`v${i}`), false)).toBe(false);
    }
    expect(w.enqueued).toEqual([]);
    expect(w.causes).toEqual([]);
  });

  it('repairs data kvsync did not write, and a delete, counting each by cause', async () => {
    const w = world();
    await w.written.write('shop', 'web-db', mac('v1'), () => Promise.resolve('created'));
    expect(w.drift.secretChanged(secret('tampered'), false)).toBe(true);
    expect(w.drift.secretChanged(secret('v1'), true)).toBe(true);
    expect(w.enqueued).toEqual(['shop/web', 'shop/web']);
    expect(w.causes).toEqual(['changed', 'deleted']);
  });

  it('after a failed write, only the data from before it is kvsync\'s', async () => {
    const w = world();
    await w.written.write('shop', 'web-db', mac('v1'), () => Promise.resolve('created'));
    const p = pendingWrite();
    const done = w.written.write('shop', 'web-db', mac('v2'), p.write);
    p.fail();
    await expect(done).rejects.toThrow('HTTP 500');
    expect(w.drift.secretChanged(secret('v1'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('v2'), false)).toBe(true);
  });

  it("uses the MAC in the KeyVaultSync's status when this replica wrote nothing (after a restart)", () => {
    const w = world({ secrets: [{ name: 'web-db', dataMAC: mac('v1') }] });
    expect(w.drift.secretChanged(secret('v1'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('tampered'), false)).toBe(true);
  });

  it('does nothing without a record to compare with, or for a Secret of an unknown KeyVaultSync', () => {
    const w = world();
    expect(w.drift.secretChanged(secret('anything'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('anything'), true)).toBe(false);
    const stranger = secret('x');
    stranger.metadata = { ...stranger.metadata, labels: { [SYNC_LABEL]: 'other' } };
    expect(w.drift.secretChanged(stranger, true)).toBe(false);
    expect(w.enqueued).toEqual([]);
  });

  it('on a standby, neither logs, counts nor queues: every write the leader makes is data this replica did not write', () => {
    const w = world({ secrets: [{ name: 'web-db', dataMAC: mac('v1') }] });
    w.leader.now = false;
    // The leader's next write reaches this replica's Secret watch before the status that records it.
    expect(w.drift.secretChanged(secret('v2'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('v2'), true)).toBe(false);
    expect({ enqueued: w.enqueued, causes: w.causes, logged: w.logged }).toEqual({ enqueued: [], causes: [], logged: [] });
    // The same events once it leads are repairs.
    w.leader.now = true;
    expect(w.drift.secretChanged(secret('v2'), false)).toBe(true);
    expect(w.enqueued).toEqual(['shop/web']);
    expect(w.logged.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['managed Secret changed out of band; repairing']);
  });
});

describe('DriftRepair of ClusterKeyVaultSyncs', () => {
  const fanned = (namespace: string, value: string): k8s.V1Secret => ({
    metadata: { name: 'web-db', namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CLUSTER_SYNC_LABEL]: 'shared' } },
    type: 'Opaque',
    data: { PASSWORD: Buffer.from(value).toString('base64') },
  });
  const clusterMac = (namespace: string, value: string): string => dataMac(macKey, { namespace, name: 'web-db', type: 'Opaque' }, { PASSWORD: Buffer.from(value) });

  it("repairs anything but this replica's own write, by the ClusterKeyVaultSync's name (no MAC in its status)", async () => {
    const w = withDeps((deps) => DriftRepair.forClusterKeyVaultSyncs(deps));
    await w.written.write('team-a', 'web-db', clusterMac('team-a', 'v1'), () => Promise.resolve('created'));
    expect(w.drift.secretChanged(fanned('team-a', 'v1'), false)).toBe(false);
    expect(w.drift.secretChanged(fanned('team-a', 'tampered'), false)).toBe(true);
    expect(w.drift.secretChanged(fanned('team-b', 'never written here'), false)).toBe(true);
    expect(w.drift.secretChanged(fanned('team-a', 'v1'), true)).toBe(true);
    expect(w.enqueued).toEqual(['shared', 'shared', 'shared']);
    expect(w.causes).toEqual(['changed', 'changed', 'deleted']);
  });

  it('on a standby, which records no write of its own, neither logs, counts nor queues', () => {
    const w = withDeps((deps) => DriftRepair.forClusterKeyVaultSyncs(deps));
    w.leader.now = false;
    for (const ns of ['team-a', 'team-b']) {
      expect(w.drift.secretChanged(fanned(ns, 'the leader wrote this'), false)).toBe(false);
      expect(w.drift.secretChanged(fanned(ns, 'the leader wrote this'), true)).toBe(false);
    }
    expect({ enqueued: w.enqueued, causes: w.causes, logged: w.logged }).toEqual({ enqueued: [], causes: [], logged: [] });
  });
});

import { describe, expect, it } from 'vitest';
import { LeaderElector, LeaseConflictError, type LeaseClient, type LeaseRecord } from './leader-election.ts';

/** An in-memory Lease with resourceVersion optimistic concurrency (unit tests only). */
class MemoryLease implements LeaseClient {
  record: LeaseRecord | undefined;
  rv = 0;
  failing = false;

  get(): Promise<LeaseRecord | undefined> {
    if (this.failing) return Promise.reject(new Error('apiserver unreachable'));
    return Promise.resolve(this.record === undefined ? undefined : { ...this.record });
  }
  create(r: LeaseRecord): Promise<LeaseRecord> {
    if (this.failing) return Promise.reject(new Error('apiserver unreachable'));
    if (this.record !== undefined) return Promise.reject(new LeaseConflictError('exists'));
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return Promise.resolve({ ...this.record });
  }
  update(r: LeaseRecord): Promise<LeaseRecord> {
    if (this.failing) return Promise.reject(new Error('apiserver unreachable'));
    if (this.record?.resourceVersion !== r.resourceVersion) return Promise.reject(new LeaseConflictError('stale'));
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return Promise.resolve({ ...this.record });
  }
}

function setup() {
  const lease = new MemoryLease();
  let now = 1_000_000;
  const events: string[] = [];
  const make = (identity: string) =>
    new LeaderElector({
      identity,
      client: lease,
      now: () => now,
      onStartedLeading: () => events.push(`${identity}:start`),
      onStoppedLeading: () => events.push(`${identity}:stop`),
    });
  return { lease, events, a: make('a'), b: make('b'), advance: (ms: number) => (now += ms) };
}

describe('LeaderElector', () => {
  it('acquires a missing lease, and a second candidate does not get it while it is renewed', async () => {
    const { lease, a, b, events, advance } = setup();
    expect(await a.tick()).toBe(true);
    expect(lease.record?.holderIdentity).toBe('a');
    expect(lease.record?.leaseDurationSeconds).toBe(15);
    for (let i = 0; i < 10; i++) {
      advance(2_000);
      expect(await a.tick()).toBe(true);
      expect(await b.tick()).toBe(false);
    }
    expect(events).toEqual(['a:start']);
  });

  it('takes over a lease whose holder stopped renewing, after the lease duration on its own clock', async () => {
    const { lease, a, b, events, advance } = setup();
    await a.tick();
    expect(await b.tick()).toBe(false); // b first sees the record now
    advance(14_000);
    expect(await b.tick()).toBe(false);
    advance(1_500);
    expect(await b.tick()).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // a notices at its next attempt and stops at once.
    expect(await a.tick()).toBe(false);
    expect(events).toEqual(['a:start', 'b:start', 'a:stop']);
  });

  it('gives up leadership when it cannot renew within the renew deadline', async () => {
    const { lease, a, events, advance } = setup();
    await a.tick();
    lease.failing = true;
    advance(2_000);
    expect(await a.tick()).toBe(true); // within the 10 s deadline
    advance(8_500);
    expect(await a.tick()).toBe(false);
    expect(events).toEqual(['a:start', 'a:stop']);
  });

  it('loses the race on a stale resourceVersion (never two leaders)', async () => {
    const { lease, a, b, advance } = setup();
    await a.tick();
    advance(20_000);
    // b has never seen the record: it observes it now and must wait a full lease duration.
    expect(await b.tick()).toBe(false);
    // a renews in the meantime: b's view is stale; a concurrent write with an old version is refused.
    await a.tick();
    const stale = { ...(lease.record as LeaseRecord), resourceVersion: '1', holderIdentity: 'b' };
    await expect(lease.update(stale)).rejects.toBeInstanceOf(LeaseConflictError);
    expect(lease.record?.holderIdentity).toBe('a');
  });

  it('fences writes once the renew deadline has passed since the last renewal began, before its loop runs again', async () => {
    const { a, events, advance } = setup();
    expect(await a.tick()).toBe(true);
    advance(9_999);
    expect(a.isLeader()).toBe(true);
    // Frozen past the renew deadline (10 s): no tick has run, yet no write may pass.
    advance(1);
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a:start']);
    // A successful renewal opens the fence again, as a new term: the writes dropped while it was closed are
    // redone by the start callback (the controller re-queues everything).
    expect(await a.tick()).toBe(true);
    expect(a.isLeader()).toBe(true);
    expect(events).toEqual(['a:start', 'a:stop', 'a:start']);
  });

  it('releases the lease on stop so another replica takes over without waiting', async () => {
    const { lease, a, b, events } = setup();
    await a.tick();
    await b.tick();
    await a.stop();
    expect(lease.record?.holderIdentity).toBeUndefined();
    expect(a.isLeader()).toBe(false);
    expect(await b.tick()).toBe(true);
    expect(events).toEqual(['a:start', 'a:stop', 'b:start']);
  });
});

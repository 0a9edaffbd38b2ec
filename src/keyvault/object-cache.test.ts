import { describe, expect, it, vi } from 'vitest';
import { ObjectCache, objectCacheKey, type ObjectCacheKey } from './object-cache.ts';

const key = (over: Partial<ObjectCacheKey> = {}): ObjectCacheKey => ({ vaultUrl: 'https://kv.vault.azure.net/', type: 'secret', name: 'db', version: undefined, identityKey: 'id-a', ...over });

/** A load whose resolution the test controls, counting calls. */
function deferredLoads<V>(): { load: () => Promise<V>; calls: () => number; resolve: (v: V) => void; reject: (e: Error) => void } {
  let calls = 0;
  const pending: { resolve: (v: V) => void; reject: (e: Error) => void }[] = [];
  return {
    load: () => {
      calls++;
      return new Promise<V>((resolve, reject) => pending.push({ resolve, reject }));
    },
    calls: () => calls,
    resolve: (v) => pending.shift()?.resolve(v),
    reject: (e) => pending.shift()?.reject(e),
  };
}

describe('ObjectCache', () => {
  it('single flight: concurrent requests for one key share one read', async () => {
    const cache = new ObjectCache<string>();
    const d = deferredLoads<string>();
    const all = Promise.all(Array.from({ length: 5 }, () => cache.get(key(), d.load)));
    await vi.waitFor(() => expect(d.calls()).toBe(1), { timeout: 1_000 });
    d.resolve('v1');
    expect(await all).toEqual(['v1', 'v1', 'v1', 'v1', 'v1']);
    expect(cache.stats).toEqual({ hits: 0, shared: 4, loads: 1 });
  });

  it('latest results live the short TTL, then are read again', async () => {
    let now = 1_000;
    const cache = new ObjectCache<number>({ latestTtlMs: 2_000, now: () => now });
    let reads = 0;
    const load = (): Promise<number> => Promise.resolve(++reads);
    expect(await cache.get(key(), load)).toBe(1);
    now += 1_999;
    expect(await cache.get(key(), load)).toBe(1);
    now += 1;
    expect(await cache.get(key(), load)).toBe(2);
    expect(reads).toBe(2);
  });

  it('latestTtlMs 0 is single-flight only', async () => {
    const cache = new ObjectCache<number>({ latestTtlMs: 0 });
    let reads = 0;
    const load = (): Promise<number> => Promise.resolve(++reads);
    await cache.get(key(), load);
    await cache.get(key(), load);
    expect(reads).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('identities are isolated: another identity key reads for itself', async () => {
    const cache = new ObjectCache<string>();
    const loads: string[] = [];
    const load = (who: string) => (): Promise<string> => {
      loads.push(who);
      return Promise.resolve(who);
    };
    expect(await cache.get(key({ identityKey: 'id-a' }), load('a'))).toBe('a');
    expect(await cache.get(key({ identityKey: 'id-b' }), load('b'))).toBe('b');
    expect(await cache.get(key({ identityKey: 'id-a' }), load('a2'))).toBe('a');
    expect(loads).toEqual(['a', 'b']);
  });

  it('vault, type, name and version are part of the key; vault URL and name case are not', () => {
    const base = objectCacheKey(key());
    expect(objectCacheKey(key({ vaultUrl: 'https://KV.vault.azure.net' }))).toBe(base);
    expect(objectCacheKey(key({ name: 'DB' }))).toBe(base);
    for (const other of [key({ vaultUrl: 'https://other.vault.azure.net/' }), key({ type: 'certificate' }), key({ name: 'db2' }), key({ version: 'abc' })]) {
      expect(objectCacheKey(other)).not.toBe(base);
    }
  });

  it('pinned versions are reused long after the latest TTL', async () => {
    let now = 0;
    const cache = new ObjectCache<number>({ latestTtlMs: 1_000, pinnedTtlMs: 60_000, now: () => now });
    let reads = 0;
    const load = (): Promise<number> => Promise.resolve(++reads);
    expect(await cache.get(key({ version: 'v1' }), load)).toBe(1);
    now += 59_000;
    expect(await cache.get(key({ version: 'v1' }), load)).toBe(1);
    now += 1_000;
    expect(await cache.get(key({ version: 'v1' }), load)).toBe(2);
  });

  it('failures are shared by their flight but never kept', async () => {
    const cache = new ObjectCache<string>();
    const d = deferredLoads<string>();
    const a = cache.get(key(), d.load);
    const b = cache.get(key(), d.load);
    await vi.waitFor(() => expect(d.calls()).toBe(1), { timeout: 1_000 });
    d.reject(new Error('403'));
    await expect(a).rejects.toThrow('403');
    await expect(b).rejects.toThrow('403');
    expect(d.calls()).toBe(1);
    expect(cache.size).toBe(0);
    const c = cache.get(key(), d.load);
    await vi.waitFor(() => expect(d.calls()).toBe(2), { timeout: 1_000 });
    d.resolve('ok');
    expect(await c).toBe('ok');
  });

  it('a load that throws at once is not kept in flight', async () => {
    const cache = new ObjectCache<string>();
    const boom = (): Promise<string> => {
      throw new Error('sync failure');
    };
    await expect(cache.get(key(), boom)).rejects.toThrow('sync failure');
    expect(await cache.get(key(), () => Promise.resolve('ok'))).toBe('ok');
  });

  it('notReadBefore refuses latest results of earlier reads (a sync\'s next fetch reads again), not pinned ones', async () => {
    let now = 100;
    const cache = new ObjectCache<number>({ latestTtlMs: 60_000, now: () => now });
    let reads = 0;
    const load = (): Promise<number> => Promise.resolve(++reads);
    expect(await cache.get(key(), load)).toBe(1); // read started at 100
    now = 150; // the sync's fetch ended at 150
    expect(await cache.get(key(), load, { notReadBefore: 150 })).toBe(2); // read started at 150: not after it
    now = 151;
    expect(await cache.get(key(), load, { notReadBefore: 100 })).toBe(2); // another sync whose fetch ended earlier shares it
    expect(await cache.get(key(), load)).toBe(2);
    expect(await cache.get(key({ version: 'v1' }), load)).toBe(3);
    expect(await cache.get(key({ version: 'v1' }), load, { notReadBefore: 10_000 })).toBe(3);
  });

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const cache = new ObjectCache<string>({ maxEntries: 2, pinnedTtlMs: 60_000 });
    const loads: string[] = [];
    const load = (v: string) => (): Promise<string> => {
      loads.push(v);
      return Promise.resolve(v);
    };
    await cache.get(key({ version: '1' }), load('1'));
    await cache.get(key({ version: '2' }), load('2'));
    await cache.get(key({ version: '1' }), load('1')); // hit: 1 is now the most recent
    await cache.get(key({ version: '3' }), load('3')); // evicts 2
    expect(cache.size).toBe(2);
    await cache.get(key({ version: '1' }), load('1'));
    await cache.get(key({ version: '2' }), load('2'));
    expect(loads).toEqual(['1', '2', '3', '2']);
  });
});

describe('ObjectCache.invalidate', () => {
  it('drops kept latest reads of the name for the identity; pinned versions and other names stay', async () => {
    let now = 1_000;
    const results: string[] = [];
    const cache = new ObjectCache<string>({ latestTtlMs: 60_000, now: () => now, onResult: (r) => results.push(r) });
    let reads = 0;
    const load = (): Promise<string> => Promise.resolve(`r${++reads}`);
    await cache.get(key(), load);
    await cache.get(key({ type: 'certificate' }), load);
    await cache.get(key({ version: 'v1' }), load);
    await cache.get(key({ name: 'other' }), load);
    await cache.get(key({ identityKey: 'id-b' }), load);
    expect(reads).toBe(5);
    now += 10;
    cache.invalidate({ vaultUrl: 'https://KV.vault.azure.net', name: 'DB', identityKey: 'id-a' });
    await cache.get(key(), load); // read again
    await cache.get(key({ type: 'certificate' }), load); // read again
    await cache.get(key({ version: 'v1' }), load); // pinned: kept
    await cache.get(key({ name: 'other' }), load); // kept
    await cache.get(key({ identityKey: 'id-b' }), load); // other identity: kept
    expect(reads).toBe(7);
    expect(results.filter((r) => r === 'hit')).toHaveLength(3);
    // Without an identity: every identity's reads go.
    now += 10;
    cache.invalidate({ vaultUrl: 'https://kv.vault.azure.net/', name: 'db' });
    await cache.get(key({ identityKey: 'id-b' }), load);
    expect(reads).toBe(8);
  });

  it('a read in flight when invalidated is neither joined nor kept; `before` spares newer reads', async () => {
    let now = 1_000;
    const cache = new ObjectCache<string>({ latestTtlMs: 60_000, now: () => now });
    const d = deferredLoads<string>();
    const first = cache.get(key(), d.load);
    await vi.waitFor(() => expect(d.calls()).toBe(1), { timeout: 1_000 });
    now += 10;
    cache.invalidate({ vaultUrl: key().vaultUrl, name: 'db' });
    const second = cache.get(key(), d.load);
    await vi.waitFor(() => expect(d.calls()).toBe(2), { timeout: 1_000 });
    d.resolve('old');
    d.resolve('new');
    expect(await first).toBe('old');
    expect(await second).toBe('new');
    expect(await cache.get(key(), d.load)).toBe('new');
    // Reads started at or after `before` stay.
    cache.invalidate({ vaultUrl: key().vaultUrl, name: 'db', before: now });
    expect(await cache.get(key(), d.load)).toBe('new');
    expect(d.calls()).toBe(2);
  });
});

describe('ObjectCache load start', () => {
  it('load is told its start; invalidating before that start (from inside the load) keeps its result', async () => {
    let now = 5_000;
    const cache = new ObjectCache<string>({ latestTtlMs: 60_000, now: () => now });
    let seen = -1;
    const value = await cache.get(key(), (startedAt) => {
      seen = startedAt;
      now += 7; // the clock moves while the read runs
      cache.invalidate({ vaultUrl: key().vaultUrl, name: 'db', before: startedAt });
      return Promise.resolve('fresh');
    });
    expect(seen).toBe(5_000);
    expect(value).toBe('fresh');
    expect(await cache.get(key(), () => Promise.resolve('again'))).toBe('fresh');
  });
});

describe('ObjectCache.seed', () => {
  it('keeps a pinned version read as the current one; never replaces a kept one; ignores latest keys', async () => {
    const cache = new ObjectCache<string>();
    cache.seed(key({ version: 'v1' }), 'from-latest', 0);
    cache.seed(key({ version: 'v1' }), 'other', 0);
    cache.seed(key(), 'latest', 0);
    let reads = 0;
    const load = (): Promise<string> => Promise.resolve(`read-${++reads}`);
    expect(await cache.get(key({ version: 'v1' }), load)).toBe('from-latest');
    expect(await cache.get(key(), load)).toBe('read-1');
  });
});

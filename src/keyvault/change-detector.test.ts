import { describe, expect, it, vi } from 'vitest';
import { ChangeDetector, mayBeWithinStampSecond, type ChangeSource, type ListingKind } from './change-detector.ts';
import type { CurrentVersion, ObjectRef } from './fetch.ts';

/**
 * A vault as the detector sees it: current version per name, listing permission, counted calls. Its
 * clock is kvsync's plus `skewMs` (Key Vault's `updated` stamps are whatever the test sets); a read's
 * answer carries it, in whole seconds as the `Date` header does.
 */
function fakeVault(now: () => number, skewMs = 0) {
  const state = new Map<string, { version: string; updatedMs: number; enabled: boolean }>();
  const calls = { list: [] as ListingKind[], read: [] as string[], invalidate: [] as string[], versions: [] as string[] };
  /** Every version ever set, per name (creation time = its `updated`). */
  const history = new Map<string, { version: string; createdOn: Date }[]>();
  let forbidden = false;
  let failing = false;
  let throttling = false;
  let detector: ChangeDetector | undefined;
  const current = (name: string): CurrentVersion => {
    const s = state.get(name.toLowerCase());
    if (s === undefined) throw Object.assign(new Error('not found'), { statusCode: 404 });
    if (!s.enabled) throw Object.assign(new Error('disabled'), { statusCode: 403 });
    return { version: s.version, updatedOn: new Date(s.updatedMs), enabled: s.enabled, answeredOn: new Date(Math.floor((now() + skewMs) / 1000) * 1000) };
  };
  const source: ChangeSource = {
    list: (kind) => {
      calls.list.push(kind);
      if (failing) return Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }));
      if (throttling) return Promise.reject(Object.assign(new Error('too many requests'), { statusCode: 429 }));
      if (forbidden) return Promise.reject(Object.assign(new Error('forbidden'), { statusCode: 403 }));
      const out = new Map<string, CurrentVersion>();
      for (const [name, s] of state) if ((kind === 'keys') === name.startsWith('key-')) out.set(name, { version: undefined, updatedOn: new Date(s.updatedMs), enabled: s.enabled });
      return Promise.resolve(out);
    },
    read: (ref: ObjectRef) => {
      calls.read.push(ref.name);
      const started = now();
      const r = current(ref.name);
      detector?.recordRead(ref, r, started);
      return Promise.resolve(r);
    },
    versions: (ref: ObjectRef) => {
      calls.versions.push(ref.name);
      return Promise.resolve(history.get(ref.name.toLowerCase()) ?? []);
    },
    invalidate: (name) => {
      calls.invalidate.push(name);
    },
  };
  return {
    source,
    calls,
    set: (name: string, version: string, updatedMs: number, enabled = true) => {
      const h = history.get(name) ?? [];
      if (!h.some((v) => v.version === version)) h.push({ version, createdOn: new Date(updatedMs) });
      history.set(name, h);
      state.set(name, { version, updatedMs, enabled });
    },
    remove: (name: string) => state.delete(name),
    forbid: (v: boolean) => {
      forbidden = v;
    },
    fail: (v: boolean) => {
      failing = v;
    },
    throttle: (v: boolean) => {
      throttling = v;
    },
    attach: (d: ChangeDetector) => {
      detector = d;
    },
    current,
  };
}

function setup(opts: { listRecheckMs?: number; skewMs?: number } = {}) {
  const { skewMs, ...detectorOpts } = opts;
  let t = 1_000_000;
  const now = (): number => t;
  const vault = fakeVault(now, skewMs);
  const changed: string[][] = [];
  const lists: string[] = [];
  const detector = new ChangeDetector({ source: vault.source, onChanged: (keys) => changed.push([...keys].sort()), onList: (kind, result) => lists.push(`${kind}:${result}`), now, ...detectorOpts });
  vault.attach(detector);
  /** What a KeyVaultSync's own fetch does: register, then report its reads. */
  const syncRead = (syncKey: string, refs: ObjectRef[], intervalMs = 10_000): void => {
    detector.register(syncKey, refs, intervalMs);
    for (const ref of refs) detector.recordRead(ref, vault.current(ref.name), t, syncKey);
  };
  return { vault, detector, changed, lists, syncRead, advance: (ms: number) => (t += ms), now };
}

const secret = (name: string): ObjectRef => ({ type: 'secret', name });

describe('ChangeDetector', () => {
  it('starts each cycle at a random point in the last 10 % of its interval, by the injected random source', async () => {
    vi.useFakeTimers();
    try {
      for (const [r, dueMs] of [[0, 10_000], [0.5, 9_500], [0.999, 9_001]] as const) {
        const started = Date.now();
        const lists: number[] = [];
        const source: ChangeSource = {
          list: () => Promise.resolve(void lists.push(Date.now() - started)).then(() => new Map()),
          read: () => Promise.reject(new Error('not read')),
          versions: () => Promise.resolve([]),
          invalidate: () => undefined,
        };
        const d = new ChangeDetector({ source, onChanged: () => undefined, random: () => r });
        d.register('ns/a', [secret('db')], 10_000);
        await vi.advanceTimersByTimeAsync(dueMs - 1);
        expect(lists).toEqual([]);
        await vi.advanceTimersByTimeAsync(1);
        expect(lists).toEqual([dueMs]);
        d.close();
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads the objects in use instead of listing when that is cheaper: V = 5,000, M = 10 costs 10 reads a cycle', async () => {
    const s = setup({ listRecheckMs: 3_600_000 });
    for (let i = 0; i < 5_000; i++) s.vault.set(`big-${i}`, 'v1', 1_000);
    const used = Array.from({ length: 10 }, (_, i) => secret(`big-${i}`));
    s.syncRead('ns/a', used);
    // The first cycle lists (200 pages in Key Vault), which shows V.
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.list).toEqual(['secrets']);
    expect(s.detector.readsCheaper('secrets', 10)).toBe(true);
    for (let i = 0; i < 3; i++) {
      s.advance(10_000);
      await s.detector.check();
    }
    expect(s.vault.calls.list).toEqual(['secrets']);
    expect(s.vault.calls.read).toHaveLength(30);
    expect(s.detector.confirms(secret('big-0'))).toBe(true);
    expect(s.changed).toEqual([]);
    // A new version is found by the read and reported.
    s.vault.set('big-3', 'v2', 1_050_000);
    s.advance(10_000);
    await s.detector.check();
    expect(s.changed).toEqual([['ns/a']]);
    // The count a listing showed is believed for listRecheckMs; then the vault is listed again.
    s.advance(3_600_000);
    await s.detector.check();
    expect(s.vault.calls.list).toEqual(['secrets', 'secrets']);
  });

  it('lists every cycle for a KeyVaultSync that needs the listing (object selectors), even with nothing watched or reads cheaper', async () => {
    const s = setup({ listRecheckMs: 3_600_000 });
    for (let i = 0; i < 5_000; i++) s.vault.set(`big-${i}`, 'v1', 1_000);
    s.detector.register('ns/select', [], 10_000, ['secrets']);
    s.syncRead('ns/a', [secret('big-0')]);
    for (let i = 0; i < 3; i++) {
      s.advance(10_000);
      await s.detector.check();
    }
    expect(s.vault.calls.list).toEqual(['secrets', 'secrets', 'secrets']);
    expect(s.detector.readsCheaper('secrets', 1)).toBe(true);
    s.detector.unregister('ns/select');
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.list).toHaveLength(3);
  });

  it('lists when that is cheaper: V = M = 200 is 8 pages a cycle, not 200 reads', async () => {
    const s = setup();
    for (let i = 0; i < 200; i++) s.vault.set(`s-${i}`, 'v1', 1_000);
    s.syncRead('ns/a', Array.from({ length: 200 }, (_, i) => secret(`s-${i}`)));
    for (let i = 0; i < 3; i++) {
      s.advance(10_000);
      await s.detector.check();
    }
    expect(s.vault.calls.list).toEqual(['secrets', 'secrets', 'secrets']);
    expect(s.vault.calls.read).toEqual([]);
    expect(s.detector.readsCheaper('secrets', 200)).toBe(false);
    // Reading is chosen only while strictly cheaper: 8 objects of 200 listed (8 pages) still list.
    expect(s.detector.readsCheaper('secrets', 8)).toBe(false);
    expect(s.detector.readsCheaper('secrets', 7)).toBe(true);
  });

  it('an unchanged vault costs one listing per cycle and no reads; objects stay confirmed', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.vault.set('api', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db'), secret('api')]);
    s.syncRead('ns/b', [secret('db'), { type: 'certificate', name: 'api' }]);
    for (let i = 0; i < 3; i++) {
      s.advance(10_000);
      await s.detector.check();
    }
    expect(s.vault.calls.list).toEqual(['secrets', 'secrets', 'secrets']);
    expect(s.vault.calls.read).toEqual([]);
    expect(s.changed).toEqual([]);
    expect(s.detector.confirms(secret('db'))).toBe(true);
    // Without a check for more than two intervals (+ grace), nothing is confirmed.
    s.advance(26_000);
    expect(s.detector.confirms(secret('db'))).toBe(false);
  });

  it('a changed object is read once and exactly its users are reported', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.vault.set('api', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.syncRead('ns/b', [secret('db'), secret('api')]);
    s.syncRead('ns/c', [secret('api')]);
    s.vault.set('db', 'v2', 2_000);
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.read).toEqual(['db']);
    expect(s.changed).toEqual([['ns/a', 'ns/b']]);
    expect(s.vault.calls.invalidate).toEqual(['db']);
    // Next cycle: the new version is the baseline.
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.read).toEqual(['db']);
    expect(s.changed).toHaveLength(1);
  });

  it('a KeyVaultSync with several objects changed in one cycle is told once, when its last read is done', async () => {
    const s = setup();
    for (const name of ['db', 'api', 'cache']) s.vault.set(name, 'v1', 1_000);
    s.syncRead('ns/a', [secret('db'), secret('api'), secret('cache')]);
    s.syncRead('ns/b', [secret('db')]);
    for (const name of ['db', 'api', 'cache']) s.vault.set(name, 'v2', 2_000);
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.read.sort()).toEqual(['api', 'cache', 'db']);
    // ns/b needs only db: told as soon as db is read; ns/a once, not once per changed object.
    expect(s.changed.flat().sort()).toEqual(['ns/a', 'ns/b']);
    expect(s.changed.findIndex((keys) => keys.includes('ns/b'))).toBeLessThan(s.changed.findIndex((keys) => keys.includes('ns/a')));
  });

  it('a listing stamp that differs without a new version is read once, then adopted (no report)', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [{ type: 'cert', name: 'db' }]);
    s.vault.set('db', 'v1', 5_000); // e.g. tags updated, or a stamp of another type
    s.advance(10_000);
    await s.detector.check();
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.read).toEqual(['db']);
    expect(s.changed).toEqual([]);
  });

  it('a disabled or deleted object is reported to its users (once)', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.vault.set('api', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.syncRead('ns/b', [secret('api')]);
    s.vault.remove('db');
    s.advance(10_000);
    await s.detector.check();
    s.advance(10_000);
    await s.detector.check();
    expect(s.changed).toEqual([['ns/a']]);
    // It comes back: its users are told again.
    s.vault.set('db', 'v3', 30_000);
    s.advance(10_000);
    await s.detector.check();
    expect(s.changed).toEqual([['ns/a'], ['ns/a']]);
    // Its current version disabled: read (forbidden), reported once.
    s.vault.set('api', 'v1', 40_000, false);
    s.advance(10_000);
    await s.detector.check();
    s.advance(10_000);
    await s.detector.check();
    expect(s.changed).toEqual([['ns/a'], ['ns/a'], ['ns/b']]);
  });

  it('a read in the second of its stamp is verified once by listing versions; a same-second version is then read', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000_000); // the clock is at 1,000,000: read in that very second
    s.vault.set('api', 'v1', 1_000_000);
    s.syncRead('ns/a', [secret('db'), secret('api')]);
    s.vault.set('db', 'v2', 1_000_000); // same second: same listed stamp
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.versions.sort()).toEqual(['api', 'db']);
    expect(s.vault.calls.read).toEqual(['db']);
    expect(s.changed).toEqual([['ns/a']]);
    // Verified once: later cycles list only.
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.versions).toHaveLength(2);
    expect(s.vault.calls.read).toEqual(['db']);
  });

  for (const skewMs of [-600_000, 600_000]) {
    const direction = skewMs < 0 ? 'behind' : 'ahead of';
    it(`Key Vault's clock 10 minutes ${direction} kvsync's: a same-second version is still found (only Key Vault's clock dates a read against its stamp)`, async () => {
      const s = setup({ skewMs });
      const azureNow = 1_000_000 + skewMs; // Key Vault's clock when kvsync's reads 1,000,000
      s.vault.set('db', 'v1', azureNow);
      s.syncRead('ns/a', [secret('db')]);
      s.vault.set('db', 'v2', azureNow); // later in the same second: the same (whole-second) stamp
      s.advance(10_000);
      await s.detector.check();
      expect(s.vault.calls.versions).toEqual(['db']);
      expect(s.vault.calls.read).toEqual(['db']);
      expect(s.changed).toEqual([['ns/a']]);
    });

    it(`Key Vault's clock 10 minutes ${direction} kvsync's: a read seconds after its stamp costs no version listing, and the object stays confirmed`, async () => {
      const s = setup({ skewMs });
      s.vault.set('db', 'v1', 1_000_000 + skewMs - 5_000);
      s.syncRead('ns/a', [secret('db')]);
      for (let i = 0; i < 3; i++) {
        s.advance(10_000);
        await s.detector.check();
        expect(s.detector.confirms(secret('db'))).toBe(true);
      }
      expect(s.vault.calls.versions).toEqual([]);
      expect(s.vault.calls.read).toEqual([]);
    });
  }

  it('a read may have come within its stamp\'s second unless Key Vault answered it two seconds or more after that second began; without a Date, always', () => {
    expect(mayBeWithinStampSecond(5_000, 5_000)).toBe(true);
    expect(mayBeWithinStampSecond(5_000, 6_000)).toBe(true);
    expect(mayBeWithinStampSecond(5_000, 7_000)).toBe(false);
    expect(mayBeWithinStampSecond(5_000, 600_000)).toBe(false);
    expect(mayBeWithinStampSecond(5_000, undefined)).toBe(true);
    expect(mayBeWithinStampSecond(5_000, Number.NaN)).toBe(true);
  });

  it('only the listings the registered types need are made', async () => {
    const s = setup();
    s.vault.set('key-sign', 'k1', 1_000);
    s.syncRead('ns/a', [{ type: 'key', name: 'key-sign' }]);
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.list).toEqual(['keys']);
  });

  it('listing forbidden: learned once, one read per object per cycle, changes still found, re-checked after listRecheckMs', async () => {
    const s = setup({ listRecheckMs: 60_000 });
    s.vault.forbid(true);
    s.vault.set('db', 'v1', 1_000);
    s.vault.set('api', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db'), secret('api')]);
    s.syncRead('ns/b', [secret('db')]);
    s.advance(10_000);
    await s.detector.check();
    expect(s.lists).toEqual(['secrets:forbidden']);
    expect(s.vault.calls.read.sort()).toEqual(['api', 'db']);
    expect(s.changed).toEqual([]);
    s.vault.set('db', 'v2', 12_000);
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.list).toHaveLength(1); // not asked again
    expect(s.vault.calls.read).toHaveLength(4); // ≤ M per cycle
    expect(s.changed.flat().sort()).toEqual(['ns/a', 'ns/b']);
    expect(s.detector.confirms(secret('api'))).toBe(true);
    // Permission granted later: found at the re-check.
    s.vault.forbid(false);
    s.advance(50_000);
    await s.detector.check();
    expect(s.lists).toEqual(['secrets:forbidden', 'secrets:ok']);
    expect(s.detector.listForbidden('secrets')).toBe(false);
  });

  it('a failing listing confirms nothing and reports nothing', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.vault.fail(true);
    for (let i = 0; i < 3; i++) {
      s.advance(10_000);
      await s.detector.check();
    }
    expect(s.lists).toEqual(['secrets:error', 'secrets:error', 'secrets:error']);
    expect(s.detector.confirms(secret('db'))).toBe(false);
    expect(s.changed).toEqual([]);
  });

  it('a throttled listing (429) makes it throttled until a cycle is not, reporting its KeyVaultSyncs once, as it begins', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.syncRead('ns/b', [secret('db')]);
    s.vault.throttle(true);
    for (let i = 0; i < 3; i++) {
      s.advance(10_000);
      await s.detector.check();
      expect(s.detector.throttled).toBe(true);
    }
    expect(s.changed).toEqual([['ns/a', 'ns/b']]);
    expect(s.vault.calls.read).toEqual([]);
    // Down (503) is not throttled; nor is a listing answered again.
    s.vault.throttle(false);
    s.vault.fail(true);
    s.advance(10_000);
    await s.detector.check();
    expect(s.detector.throttled).toBe(false);
    s.vault.fail(false);
    s.vault.throttle(true);
    s.advance(10_000);
    await s.detector.check();
    s.vault.throttle(false);
    s.advance(10_000);
    await s.detector.check();
    expect(s.detector.throttled).toBe(false);
    expect(s.changed).toEqual([['ns/a', 'ns/b'], ['ns/a', 'ns/b']]);
  });

  it('a KeyVaultSync reading a new version reports the other users; an older read never replaces a newer one', () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.syncRead('ns/b', [secret('db')]);
    s.advance(1_000);
    s.detector.recordRead(secret('db'), { version: 'v2', updatedOn: new Date(2_000), enabled: true }, s.now(), 'ns/b');
    expect(s.changed).toEqual([['ns/a']]);
    s.detector.recordRead(secret('db'), { version: 'v1', updatedOn: new Date(1_000), enabled: true }, s.now() - 500, 'ns/a');
    expect(s.changed).toHaveLength(1);
  });

  it('markChanged: every user of the name, kept reads dropped; the version already read is ignored', () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.syncRead('ns/b', [{ type: 'certificate', name: 'DB' }]);
    expect(s.detector.markChanged('db', 'v1')).toEqual([]);
    expect(s.detector.markChanged('db', 'v2').sort()).toEqual(['ns/a', 'ns/b']);
    expect(s.vault.calls.invalidate).toEqual(['db']);
    expect(s.detector.confirms(secret('db'))).toBe(false);
  });

  it('polls at the smallest interval of its registrants; unregistering the last stops it', () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')], 60_000);
    s.syncRead('ns/b', [secret('db')], 5_000);
    s.syncRead('ns/c', [secret('db')], 0);
    expect(s.detector.intervalMs).toBe(5_000);
    s.detector.unregister('ns/b');
    expect(s.detector.intervalMs).toBe(60_000);
    s.detector.unregister('ns/a');
    expect(s.detector.intervalMs).toBe(0);
    expect(s.detector.confirms(secret('db'))).toBe(false); // nobody polls it
    s.detector.unregister('ns/c');
    expect(s.detector.size).toBe(0);
    s.detector.close();
  });

  it('re-registering keeps what an object already knows', async () => {
    const s = setup();
    s.vault.set('db', 'v1', 1_000);
    s.syncRead('ns/a', [secret('db')]);
    s.detector.register('ns/a', [secret('db'), secret('api')], 10_000);
    s.advance(10_000);
    await s.detector.check();
    expect(s.vault.calls.read).toEqual([]);
    expect(s.detector.confirms(secret('db'))).toBe(true);
  });
});

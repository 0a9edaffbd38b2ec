/**
 * Change detection for one (vault, identity): knows which KeyVaultSyncs use which objects (current
 * versions only; pinned versions never change) and, once per polling interval (the smallest
 * `refreshInterval` of its registrants), finds out which objects changed without reading values:
 *
 * - From list pages: `GET /secrets` (25 a page) covers `secret`, `certificate` and `cert` objects (a
 *   certificate's new version is a new version of its backing secret), `GET /keys` covers `key` objects;
 *   only the listings the registered types need are made. An object whose listed `updated` / `enabled`
 *   differ from the last read's is read again, once (the source shares the read with every
 *   KeyVaultSync and Secret using it); if its version really changed, its users are reported.
 * - When a listing answers 403 (object-scoped roles only), that is learned once and the objects it
 *   covered are read once per interval instead (≤ one read per object per cycle), re-trying the
 *   listing every `listRecheckMs` (default 1 h).
 *
 * - Whichever is cheaper per listing kind: a vault of V objects lists in ⌈V/25⌉ pages, while reading the M
 *   objects in use costs M requests. Once a listing has shown V, the objects are read instead while
 *   M < ⌈V/25⌉ (a vault of 5,000 secrets of which 10 are used: 10 reads, not 200 pages), and the vault is
 *   listed again after `listRecheckMs` to learn V anew.
 *
 * Between cycles an object is *confirmed* (its kept read may be used for a refresh without asking Key
 * Vault) while its last check is recent: within two polling intervals plus `graceMs`. A cycle that Key
 * Vault throttled (429) makes the detector {@link ChangeDetector.throttled} until a cycle is not: its
 * KeyVaultSyncs are reported once, as it begins, so that their refreshes tell the user at once (they
 * ask the vault nothing while it throttles; see KeyVaultPipeline.fetchShared). Reads made by
 * KeyVaultSyncs themselves are reported with `recordRead`: a new version found that way is reported to
 * the object's other users too. `markChanged` (a pushed event) invalidates an object at once.
 *
 * Never holds a value: only names, versions, timestamps and KeyVaultSync keys.
 */
import type { ObjectType } from '../api/keyvaultsync-schema.ts';
import type { CurrentVersion, ObjectRef } from './fetch.ts';
import type { ListResult } from './refresh-metrics.ts';
import { LIST_PAGE_SIZE } from './versions.ts';

/** Which listing covers which object type. */
export type ListingKind = 'secrets' | 'keys';

export function listingKindOf(type: ObjectType): ListingKind {
  return type === 'key' ? 'keys' : 'secrets';
}

/** What the detector asks Key Vault, through the caller's clients and object cache. */
export interface ChangeSource {
  /** Current versions by lower-case name. Throws an error with `statusCode` 403 when listing is forbidden. */
  list(kind: ListingKind): Promise<Map<string, CurrentVersion>>;
  /**
   * Reads the current version of `object` (sharing only reads started after `notReadBefore`) and
   * reports it through `recordRead`. Throws the read's failure.
   */
  read(object: ObjectRef, notReadBefore: number): Promise<CurrentVersion>;
  /**
   * The versions of `object` (metadata only, one paged listing), to tell whether another version was
   * created in the same second as the one read. Throws the listing's failure.
   */
  versions(object: ObjectRef): Promise<{ version: string; createdOn: Date | undefined }[]>;
  /** Drops kept reads of the object's name started before `before` (default now): they are stale. */
  invalidate(name: string, before?: number): void;
}


export interface ChangeDetectorOptions {
  source: ChangeSource;
  /** Told the KeyVaultSync keys whose objects changed (to enqueue them). */
  onChanged: (syncKeys: string[]) => void;
  /** Told each listing's outcome. */
  onList?: (kind: ListingKind, result: ListResult) => void;
  /** How long a 403 on listing, or the object count a listing showed, is believed before listing is tried again; default 1 h. */
  listRecheckMs?: number;
  /** Added to two polling intervals for how long a check confirms an object; default 5 s. */
  graceMs?: number;
  /** Reads at once in a cycle; default 4. */
  concurrency?: number;
  now?: () => number;
  /** [0, 1) source of the cycle jitter; default Math.random. */
  random?: () => number;
  /** Told of a cycle's unexpected failure (never thrown). */
  onError?: (err: unknown) => void;
}

interface Watched {
  ref: ObjectRef;
  users: Set<string>;
  /**
   * The last read of the current version and the listing stamp it matches. `readAt` / `readEndedAt` are
   * on kvsync's clock; `updatedMs` on Key Vault's: the two are never compared with each other.
   */
  baseline: { version: string | undefined; updatedMs: number | undefined; enabled: boolean; readAt: number; readEndedAt: number; verify: boolean } | undefined;
  /** When the object was last known unchanged (read, or confirmed by a listing/read that started then). */
  checkedAt: number;
}

export const DEFAULT_LIST_RECHECK_MS = 3_600_000;
/**
 * A cycle starts at a random point in the last 10 % of its interval after the previous one: detectors
 * of many vaults do not poll in lockstep, and a change is still seen within one interval.
 */
export const CYCLE_JITTER = 0.1;
/**
 * A read answered (Key Vault's `Date` header) less than this after the start of its `updated` second may
 * have looked within that second: the header has whole seconds, and the answer may be dated one second
 * after the read looked. Both times are Key Vault's, so the check holds however far kvsync's clock is off.
 */
const SAME_SECOND_MS = 2_000;
/**
 * A read's same-second check waits this long after the read ended, on kvsync's clock: Key Vault's clock
 * has then moved as far past the read's answer, so the stamp's second is over there too.
 */
const SECOND_OVER_MS = 1_000;
const DEFAULT_GRACE_MS = 5_000;

/**
 * True when a read of a version stamped `updatedMs` may have been made within that stamp's second, judged
 * on Key Vault's clock only: by the read's answer time (`answeredMs`, its `Date` header), or, without
 * one, always. A version created later in that second would carry the same stamp, so a listing could not
 * show it: such a read is checked once, later, by listing the object's versions.
 */
export function mayBeWithinStampSecond(updatedMs: number, answeredMs: number | undefined): boolean {
  if (answeredMs === undefined || !Number.isFinite(answeredMs)) return true;
  return answeredMs < Math.floor(updatedMs / 1000) * 1000 + SAME_SECOND_MS;
}

const refKey = (ref: ObjectRef): string => `${ref.type}\0${ref.name.toLowerCase()}`;
const statusOf = (err: unknown): number | undefined => {
  const code = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
};
/** Key Vault's 429 after the SDK's retries, or the vault guard's `Throttled` (the vault paused too long to wait). */
const isThrottling = (err: unknown): boolean => statusOf(err) === 429 || (err as { reason?: unknown } | undefined)?.reason === 'Throttled';

export class ChangeDetector {
  readonly #o: Required<Omit<ChangeDetectorOptions, 'onList' | 'onError'>> & Pick<ChangeDetectorOptions, 'onList' | 'onError'>;
  /** Per KeyVaultSync: its polling interval (0 = never polls) and its objects. */
  readonly #syncs = new Map<string, { intervalMs: number; refs: string[]; listKinds: readonly ListingKind[] }>();
  readonly #objects = new Map<string, Watched>();
  /** Until when each listing is believed forbidden. */
  readonly #forbiddenUntil = new Map<ListingKind, number>();
  /** Per listing kind: how many objects the last listing held, and when it was made. */
  readonly #listed = new Map<ListingKind, { objects: number; at: number }>();
  /** Cached `intervalMs`; undefined after the registrants changed. */
  #interval: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nextAt = Infinity;
  #running: Promise<void> | undefined;
  #closed = false;
  #throttled = false;
  /**
   * While a cycle reads the objects it found suspect: per KeyVaultSync, its reads still to come, and
   * the KeyVaultSyncs whose report waits for them (see {@link #report}).
   */
  #batch: { pending: Map<string, number>; deferred: Set<string> } | undefined;

  constructor(opts: ChangeDetectorOptions) {
    this.#o = { listRecheckMs: DEFAULT_LIST_RECHECK_MS, graceMs: DEFAULT_GRACE_MS, concurrency: 4, now: Date.now, random: Math.random, ...opts };
  }

  /** The polling interval: the smallest positive `refreshInterval` of the registrants; 0 = none. */
  get intervalMs(): number {
    if (this.#interval === undefined) {
      let min = Infinity;
      for (const s of this.#syncs.values()) if (s.intervalMs > 0 && s.intervalMs < min) min = s.intervalMs;
      this.#interval = min === Infinity ? 0 : min;
    }
    return this.#interval;
  }

  /** KeyVaultSyncs registered. */
  get size(): number {
    return this.#syncs.size;
  }

  /** True while the vault throttles the detector: its last cycle's listing or a read got 429 (after the SDK's retries). */
  get throttled(): boolean {
    return this.#throttled;
  }

  /** True while listing `kind` is believed forbidden (per-object reads are made instead). */
  listForbidden(kind: ListingKind): boolean {
    return (this.#forbiddenUntil.get(kind) ?? -Infinity) > this.#o.now();
  }

  /**
   * True when reading `used` objects one by one costs fewer requests than listing `kind` (its last
   * listing, within `listRecheckMs`, held more than `used` pages of objects).
   */
  readsCheaper(kind: ListingKind, used: number): boolean {
    const l = this.#listed.get(kind);
    if (l === undefined || this.#o.now() - l.at >= this.#o.listRecheckMs) return false;
    return used < Math.ceil(l.objects / LIST_PAGE_SIZE);
  }

  /**
   * Sets the objects `syncKey` uses (current versions; pinned ones are left out by the caller) and its
   * refresh interval (0 = it does not poll, but is still reported by `markChanged` and reads).
   * `listKinds` are listed every cycle even when no watched object needs them (object selectors).
   */
  register(syncKey: string, refs: readonly ObjectRef[], intervalMs: number, listKinds: readonly ListingKind[] = []): void {
    if (this.#closed) return;
    const keys: string[] = [];
    for (const ref of refs) {
      const k = refKey(ref);
      let w = this.#objects.get(k);
      if (w === undefined) {
        w = { ref: { type: ref.type, name: ref.name }, users: new Set(), baseline: undefined, checkedAt: -Infinity };
        this.#objects.set(k, w);
      }
      w.users.add(syncKey);
      keys.push(k);
    }
    // Objects no longer used are dropped after the new ones are added: what stays keeps its baseline.
    const previous = this.#syncs.get(syncKey);
    this.#syncs.set(syncKey, { intervalMs: Math.max(0, intervalMs), refs: keys, listKinds });
    for (const k of previous?.refs ?? []) if (!keys.includes(k)) this.#release(k, syncKey);
    if (previous?.intervalMs !== intervalMs) this.#interval = undefined;
    this.#schedule();
  }

  /** Forgets `syncKey` (deleted, or now using another vault or identity). */
  unregister(syncKey: string): void {
    this.#drop(syncKey);
    this.#schedule();
  }

  /**
   * True when the kept read of `ref` may stand for its current version: it is watched, has been read,
   * and was checked within two polling intervals (plus grace).
   */
  confirms(ref: ObjectRef): boolean {
    const w = this.#objects.get(refKey(ref));
    const interval = this.intervalMs;
    if (w?.baseline === undefined || interval === 0) return false;
    return this.#o.now() - w.checkedAt <= 2 * interval + this.#o.graceMs;
  }

  /**
   * A read of the current version of `ref` that started at `startedAt`. When it shows another version
   * than the previous read, the object's users (except `by`) are reported.
   */
  recordRead(ref: ObjectRef, read: CurrentVersion, startedAt: number, by?: string): void {
    const w = this.#objects.get(refKey(ref));
    if (w === undefined) return;
    const previous = w.baseline;
    if (previous !== undefined && startedAt < previous.readAt) return; // a newer read is already known
    const updatedMs = read.updatedOn?.getTime();
    const verify = updatedMs !== undefined && mayBeWithinStampSecond(updatedMs, read.answeredOn?.getTime());
    w.baseline = { version: read.version, updatedMs, enabled: read.enabled, readAt: startedAt, readEndedAt: this.#o.now(), verify };
    w.checkedAt = Math.max(w.checkedAt, startedAt);
    if (previous !== undefined && previous.version !== read.version) {
      // Older reads of the name (other types, version lists) are stale now; this read stays.
      this.#o.source.invalidate(w.ref.name, startedAt);
      this.#report([...w.users].filter((u) => u !== by));
    }
  }

  /**
   * A pushed change of `name` (any type): unless `version` is the one last read, kept reads are dropped
   * and the users' keys returned (the caller enqueues them; they read it once, shared).
   */
  markChanged(name: string, version?: string): string[] {
    const users = new Set<string>();
    let invalidate = false;
    for (const w of this.#objects.values()) {
      if (w.ref.name.toLowerCase() !== name.toLowerCase()) continue;
      if (version !== undefined && w.baseline?.version !== undefined && w.baseline.version.toLowerCase() === version.toLowerCase()) continue;
      w.checkedAt = -Infinity;
      invalidate = true;
      for (const u of w.users) users.add(u);
    }
    if (invalidate) this.#o.source.invalidate(name);
    return [...users];
  }

  /** Runs one cycle now (tests, and the timer). Concurrent calls share one cycle. */
  check(): Promise<void> {
    this.#running ??= this.#cycle().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops polling; a cycle in progress finishes. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextAt = Infinity;
  }

  #drop(syncKey: string): void {
    const s = this.#syncs.get(syncKey);
    if (s === undefined) return;
    this.#syncs.delete(syncKey);
    this.#interval = undefined;
    for (const k of s.refs) this.#release(k, syncKey);
  }

  #release(k: string, syncKey: string): void {
    const w = this.#objects.get(k);
    w?.users.delete(syncKey);
    if (w !== undefined && w.users.size === 0) this.#objects.delete(k);
  }

  /** (Re)arms the timer for the next cycle, one interval (less up to {@link CYCLE_JITTER}) after the last one started. */
  #schedule(from = this.#o.now()): void {
    if (this.#closed) return;
    const interval = this.intervalMs;
    if (interval === 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#nextAt = Infinity;
      return;
    }
    const at = from + Math.round(interval * (1 - CYCLE_JITTER * this.#o.random()));
    if (this.#timer !== undefined && this.#nextAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#nextAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#nextAt = Infinity;
        const started = this.#o.now();
        this.check()
          .catch((err: unknown) => this.#o.onError?.(err))
          .finally(() => this.#schedule(started));
      },
      Math.max(0, at - this.#o.now()),
    );
    this.#timer.unref();
  }

  /**
   * Tells `keys` to `onChanged`. While a cycle reads suspect objects, a KeyVaultSync with reads of that
   * cycle still to come is told once they are done: it then syncs once with every change the cycle
   * found, not once per changed object (each sync after the first would wait behind the others').
   */
  #report(keys: Iterable<string>): void {
    const now: string[] = [];
    for (const k of keys) {
      if (this.#batch?.pending.has(k) === true) this.#batch.deferred.add(k);
      else now.push(k);
    }
    if (now.length > 0 && !this.#closed) this.#o.onChanged(now);
  }

  /** A cycle's read of an object used by `users` is done: those with no read left and a report waiting are told. */
  #settled(users: readonly string[]): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    const ready: string[] = [];
    for (const u of users) {
      const left = (batch.pending.get(u) ?? 1) - 1;
      if (left > 0) {
        batch.pending.set(u, left);
        continue;
      }
      batch.pending.delete(u);
      if (batch.deferred.delete(u)) ready.push(u);
    }
    this.#report(ready);
  }

  /**
   * Objects read in the second of their `updated` stamp: confirmed when no other version was created in
   * that second or later, else (or when the versions cannot be listed) read again.
   */
  async #verify(items: { w: Watched; listed: CurrentVersion }[], toRead: { w: Watched; listed: CurrentVersion | undefined }[], started: number): Promise<void> {
    for (const { w, listed } of items) {
      const b = w.baseline;
      if (b === undefined) continue;
      try {
        const second = Math.floor((b.updatedMs ?? 0) / 1000) * 1000;
        const others = (await this.#o.source.versions(w.ref)).filter((v) => v.version.toLowerCase() !== b.version?.toLowerCase() && (v.createdOn?.getTime() ?? 0) >= second);
        if (others.length > 0) {
          toRead.push({ w, listed });
          continue;
        }
        b.verify = false;
        w.checkedAt = Math.max(w.checkedAt, started);
      } catch {
        toRead.push({ w, listed });
      }
    }
  }

  async #cycle(): Promise<void> {
    const started = this.#o.now();
    const byKind = new Map<ListingKind, Watched[]>();
    // Listings a KeyVaultSync needs even with no object of that kind watched (its selectors); for those
    // kinds the listing is made even when reading the watched objects would be cheaper.
    const required = new Set<ListingKind>();
    for (const sync of this.#syncs.values()) for (const kind of sync.listKinds) required.add(kind);
    for (const kind of required) byKind.set(kind, []);
    for (const w of this.#objects.values()) {
      const kind = listingKindOf(w.ref.type);
      const list = byKind.get(kind);
      if (list === undefined) byKind.set(kind, [w]);
      else list.push(w);
    }
    /** Objects to read this cycle, with the listing stamp that made them suspect (if any). */
    const toRead: { w: Watched; listed: CurrentVersion | undefined }[] = [];
    /** Unchanged by the listing, but read in the second of their stamp: their versions are listed. */
    const toVerify: { w: Watched; listed: CurrentVersion }[] = [];
    const changed = new Set<string>();
    let throttled = false;
    for (const [kind, watched] of byKind) {
      if (this.listForbidden(kind) || (!required.has(kind) && this.readsCheaper(kind, watched.length))) {
        for (const w of watched) toRead.push({ w, listed: undefined });
        continue;
      }
      let listing: Map<string, CurrentVersion>;
      try {
        const listedAt = this.#o.now();
        listing = await this.#o.source.list(kind);
        this.#listed.set(kind, { objects: listing.size, at: listedAt });
        this.#forbiddenUntil.delete(kind);
        this.#o.onList?.(kind, 'ok');
      } catch (err) {
        if (statusOf(err) === 403) {
          this.#forbiddenUntil.set(kind, this.#o.now() + this.#o.listRecheckMs);
          this.#o.onList?.(kind, 'forbidden');
          for (const w of watched) toRead.push({ w, listed: undefined });
        } else {
          // Throttled, down, unreachable: nothing is confirmed; the next cycle tries again.
          if (isThrottling(err)) throttled = true;
          this.#o.onList?.(kind, 'error');
        }
        continue;
      }
      for (const w of watched) {
        const listed = listing.get(w.ref.name.toLowerCase());
        const b = w.baseline;
        if (listed === undefined) {
          // Gone (or never there): users learn it by reading; reported once.
          if (b !== undefined) {
            w.baseline = undefined;
            this.#o.source.invalidate(w.ref.name);
            for (const u of w.users) changed.add(u);
          }
          continue;
        }
        if (b !== undefined && b.updatedMs === listed.updatedOn?.getTime() && b.enabled === listed.enabled) {
          if (b.verify && started >= b.readEndedAt + SECOND_OVER_MS) toVerify.push({ w, listed });
          else if (!b.verify) w.checkedAt = Math.max(w.checkedAt, started);
          continue;
        }
        toRead.push({ w, listed });
      }
    }
    await this.#verify(toVerify, toRead, started);
    const queue = toRead.map((item) => ({ ...item, users: [...item.w.users] }));
    const pending = new Map<string, number>();
    for (const { users } of queue) for (const u of users) pending.set(u, (pending.get(u) ?? 0) + 1);
    const batch = { pending, deferred: new Set<string>() };
    this.#batch = batch;
    // What the listing found (gone objects) is told now to KeyVaultSyncs with nothing left to read.
    this.#report(changed);
    changed.clear();
    const worker = async (): Promise<void> => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const { w, listed, users } = item;
        const before = w.baseline;
        try {
          const read = await this.#o.source.read(w.ref, started);
          // `read` went through recordRead (users reported when the version changed). Same version, but
          // the listing shows another stamp (an attribute update, or a type whose read stamp differs
          // from the listed one): the listing's stamp becomes the baseline.
          if (w.baseline !== undefined && listed !== undefined && read.version === before?.version) {
            w.baseline = { ...w.baseline, updatedMs: listed.updatedOn?.getTime(), enabled: listed.enabled, verify: false };
          }
          w.checkedAt = Math.max(w.checkedAt, started);
          if (before === undefined) for (const u of w.users) changed.add(u); // appeared, or first read
        } catch (err) {
          // Not found / forbidden / disabled: the users read it and report the failure. Anything else
          // (throttled, down): unconfirmed until a later cycle succeeds.
          const status = statusOf(err);
          if (isThrottling(err)) throttled = true;
          if (status === 403 || status === 404) {
            w.baseline = undefined;
            if (before !== undefined) for (const u of w.users) changed.add(u);
          }
        }
        this.#report(changed);
        changed.clear();
        this.#settled(users);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, Math.max(1, queue.length)) }, worker));
    } finally {
      this.#batch = undefined;
      this.#report(batch.deferred);
    }
    const began = throttled && !this.#throttled;
    this.#throttled = throttled;
    if (began) this.#report(this.#syncs.keys());
  }
}

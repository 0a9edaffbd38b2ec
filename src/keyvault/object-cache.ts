import { ByteLru } from '../util/byte-lru.ts';

/**
 * One Key Vault read per object, however many KeyVaultSyncs use it: a single-flight plus a short-lived
 * cache of fetched objects, keyed with the vault URL, the object's type and name, the requested version
 * (or "latest") and the credential's identity key (access differs per identity, so one identity never
 * gets what another one read).
 *
 * - Concurrent requests for one key share one in-flight read.
 * - A "latest" result lives `latestTtlMs` (default 2 s, well below any refreshInterval): near-simultaneous
 *   syncs share it, the next refresh reads again.
 * - A pinned version is immutable: its result lives `pinnedTtlMs` (default 1 h).
 * - Failures are never kept beyond their single flight.
 * - At most `maxEntries` results and `maxBytes` bytes of them (as `sizeOf` measures) are kept, least
 *   recently used evicted first: tenants choose how large their objects are.
 * - A caller may refuse "latest" results of reads started at or before a time (`notReadBefore`): a
 *   KeyVaultSync's next fetch never gets the read its previous fetch got (a force-sync reads again).
 * - `invalidate` drops the "latest" results of an object (a change was detected or pushed): reads of it
 *   started before the invalidation, kept or still in flight, are never handed out again.
 *
 * Values stay in memory only; keys hold no secret material (identity keys name the identity, never its secret).
 */

export interface ObjectCacheKey {
  vaultUrl: string;
  /** The object type as requested (`secret`, `certificate`, `cert`, `key`). */
  type: string;
  name: string;
  /** A pinned version; `undefined` = the current one. */
  version: string | undefined;
  /** CredentialProvider's identity key for the credential used. */
  identityKey: string;
}

export interface ObjectCacheOptions<V = unknown> {
  /** How long a "latest" result is reused; default 2,000 ms. 0 = single-flight only. */
  latestTtlMs?: number;
  /** How long a pinned version's result is reused; default 3,600,000 ms. */
  pinnedTtlMs?: number;
  /** Most results kept; default 1,000. */
  maxEntries?: number;
  /** Most bytes of results kept, as `sizeOf` measures them; default 64 MiB. */
  maxBytes?: number;
  /** The size of a result in bytes (what it holds in memory, roughly); default 0. */
  sizeOf?: (value: V) => number;
  /** Clock (tests). */
  now?: () => number;
  /** Told how each `get` was answered (metrics). */
  onResult?: (result: ObjectCacheResult) => void;
}

/** How one `get` was answered: a kept result, a read in flight, or a new read. */
export type ObjectCacheResult = 'hit' | 'shared' | 'miss';

export interface ObjectCacheStats {
  /** Requests answered by a kept result. */
  hits: number;
  /** Requests that joined a read in flight. */
  shared: number;
  /** Reads started. */
  loads: number;
}

/**
 * Default reuse of a current-version result: one burst of requests only, since nothing tells this
 * cache when the object changes (a caller that learns of changes sets a longer `latestTtlMs`).
 */
export const BURST_LATEST_TTL_MS = 2_000;
export const DEFAULT_PINNED_TTL_MS = 3_600_000;
export const DEFAULT_MAX_ENTRIES = 1_000;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** The cache key as one string (NUL-separated: no part can contain NUL). */
export function objectCacheKey(k: ObjectCacheKey): string {
  return [objectPrefix(k), k.type, k.version ?? 'latest'].join('\0');
}

/** Identity, vault and name: what `invalidate` matches (every type and version of the name). */
function objectPrefix(k: Pick<ObjectCacheKey, 'identityKey' | 'vaultUrl' | 'name'>): string {
  return [k.identityKey, k.vaultUrl.replace(/\/+$/, '').toLowerCase(), k.name.toLowerCase()].join('\0');
}

interface Kept<V> {
  value: V;
  startedAt: number;
  expiresAt: number;
}

export class ObjectCache<V> {
  readonly #latestTtlMs: number;
  readonly #pinnedTtlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #sizeOf: (value: V) => number;
  readonly #entries: ByteLru<Kept<V>>;
  readonly #inflight = new Map<string, { id: number; flight: Promise<V>; startedAt: number }>();
  /** When each object (identity, vault, name) was last invalidated. */
  readonly #invalidatedAt = new Map<string, number>();
  readonly #onResult: ((result: ObjectCacheResult) => void) | undefined;
  #flights = 0;
  readonly #stats: ObjectCacheStats = { hits: 0, shared: 0, loads: 0 };

  constructor(opts: ObjectCacheOptions<V> = {}) {
    this.#latestTtlMs = Math.max(0, opts.latestTtlMs ?? BURST_LATEST_TTL_MS);
    this.#pinnedTtlMs = Math.max(0, opts.pinnedTtlMs ?? DEFAULT_PINNED_TTL_MS);
    this.#maxEntries = Math.max(0, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#entries = new ByteLru({ maxEntries: this.#maxEntries, maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES });
    this.#sizeOf = opts.sizeOf ?? (() => 0);
    this.#now = opts.now ?? Date.now;
    this.#onResult = opts.onResult;
  }

  /** Kept results (expired ones included until next touched). */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes of the kept results, as `sizeOf` measures them. */
  get bytes(): number {
    return this.#entries.bytes;
  }

  get stats(): Readonly<ObjectCacheStats> {
    return { ...this.#stats };
  }

  /** The current time of the cache's clock (for `notReadBefore`). */
  now(): number {
    return this.#now();
  }

  /**
   * The kept result for `key`, else the read in flight for it, else `load(startedAt)` (shared while in
   * flight; `startedAt` is the read's start on the cache's clock, as `notReadBefore` and `invalidate`
   * compare it). With `notReadBefore`, kept results and flights of reads started earlier are not used.
   */
  get(key: ObjectCacheKey, load: (startedAt: number) => Promise<V>, opts: { notReadBefore?: number } = {}): Promise<V> {
    const k = objectCacheKey(key);
    // A pinned version never changes: any earlier read of it will do.
    const latest = key.version === undefined;
    const notBefore = latest ? (opts.notReadBefore ?? -Infinity) : -Infinity;
    const invalidBefore = latest ? (this.#invalidatedAt.get(objectPrefix(key)) ?? -Infinity) : -Infinity;
    const usable = (startedAt: number): boolean => startedAt > notBefore && startedAt >= invalidBefore;
    const entry = this.#entries.peek(k);
    if (entry !== undefined && usable(entry.startedAt)) {
      if (entry.expiresAt <= this.#now()) this.#entries.delete(k);
      else {
        this.#entries.get(k); // most recently used last
        this.#stats.hits++;
        this.#onResult?.('hit');
        return Promise.resolve(entry.value);
      }
    }
    const running = this.#inflight.get(k);
    if (running !== undefined && usable(running.startedAt)) {
      this.#stats.shared++;
      this.#onResult?.('shared');
      return running.flight;
    }
    this.#stats.loads++;
    this.#onResult?.('miss');
    const ttl = key.version === undefined ? this.#latestTtlMs : this.#pinnedTtlMs;
    const startedAt = this.#now();
    const id = ++this.#flights;
    const done = (): void => {
      if (this.#inflight.get(k)?.id === id) this.#inflight.delete(k);
    };
    // `load` starts on the next microtask, after the flight is registered below.
    const flight = Promise.resolve()
      .then(() => load(startedAt))
      .then(
        (value) => {
          done();
          const invalidated = latest && (this.#invalidatedAt.get(objectPrefix(key)) ?? -Infinity) > startedAt;
          if (ttl > 0 && this.#maxEntries > 0 && !invalidated) this.#keep(k, value, startedAt, this.#now() + ttl);
          return value;
        },
        (err: unknown) => {
          done();
          throw err;
        },
      );
    this.#inflight.set(k, { id, flight, startedAt });
    return flight;
  }

  /**
   * Drops the kept "latest" results of `name` (every type) for one identity, or for every identity when
   * `identityKey` is undefined, of reads started before `before` (default now): those reads, kept or in
   * flight, are never handed out again (a flight still completes for those already waiting). Pinned
   * versions stay.
   */
  invalidate(target: { vaultUrl: string; name: string; identityKey?: string | undefined; before?: number }): void {
    const before = target.before ?? this.#now();
    const vault = target.vaultUrl.replace(/\/+$/, '').toLowerCase();
    const name = target.name.toLowerCase();
    const prefixes = new Set<string>();
    if (target.identityKey !== undefined) prefixes.add(objectPrefix({ identityKey: target.identityKey, vaultUrl: vault, name }));
    for (const map of [this.#entries, this.#inflight]) {
      for (const [k, { startedAt }] of [...map.entries()]) {
        const [identityKey = '', v, n, , version] = k.split('\0');
        if (v !== vault || n !== name || version !== 'latest') continue;
        if (target.identityKey !== undefined && identityKey !== target.identityKey) continue;
        prefixes.add(objectPrefix({ identityKey, vaultUrl: vault, name }));
        if (startedAt < before) map.delete(k);
      }
    }
    for (const p of prefixes) {
      const at = Math.max(this.#invalidatedAt.get(p) ?? -Infinity, before);
      this.#invalidatedAt.delete(p);
      this.#invalidatedAt.set(p, at);
    }
    // Only flights started before the invalidation need the record: bounded like the entries.
    while (this.#invalidatedAt.size > Math.max(this.#maxEntries, 1)) {
      const oldest = this.#invalidatedAt.keys().next();
      if (oldest.done === true) break;
      this.#invalidatedAt.delete(oldest.value);
    }
  }

  /**
   * Keeps `value` for a pinned version (`key.version` set) that a read of the current version returned:
   * versions are immutable, so a later request for that version needs no read. Ignored for "latest".
   */
  seed(key: ObjectCacheKey, value: V, startedAt: number): void {
    if (key.version === undefined || this.#pinnedTtlMs === 0 || this.#maxEntries === 0) return;
    const k = objectCacheKey(key);
    if (this.#entries.has(k)) return;
    this.#keep(k, value, startedAt, this.#now() + this.#pinnedTtlMs);
  }

  /** Forgets every kept result (reads in flight still complete for their waiters). */
  clear(): void {
    this.#entries.clear();
  }

  #keep(k: string, value: V, startedAt: number, expiresAt: number): void {
    const kept = this.#entries.peek(k);
    if (kept !== undefined && kept.startedAt > startedAt) return; // a newer read is already kept
    // A result larger than the whole budget is not kept (every request for it reads again).
    if (!this.#entries.set(k, { value, startedAt, expiresAt }, this.#sizeOf(value))) this.#entries.delete(k);
  }
}

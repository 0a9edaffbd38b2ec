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
 * - At most `maxEntries` results are kept (least recently used evicted first).
 * - A caller may refuse "latest" results of reads started at or before a time (`notReadBefore`): a
 *   KeyVaultSync's next fetch never gets the read its previous fetch got (a force-sync reads again).
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

export interface ObjectCacheOptions {
  /** How long a "latest" result is reused; default 2,000 ms. 0 = single-flight only. */
  latestTtlMs?: number;
  /** How long a pinned version's result is reused; default 3,600,000 ms. */
  pinnedTtlMs?: number;
  /** Most results kept; default 1,000. */
  maxEntries?: number;
  /** Clock (tests). */
  now?: () => number;
}

export interface ObjectCacheStats {
  /** Requests answered by a kept result. */
  hits: number;
  /** Requests that joined a read in flight. */
  shared: number;
  /** Reads started. */
  loads: number;
}

export const DEFAULT_LATEST_TTL_MS = 2_000;
export const DEFAULT_PINNED_TTL_MS = 3_600_000;
export const DEFAULT_MAX_ENTRIES = 1_000;

/** The cache key as one string (NUL-separated: no part can contain NUL). */
export function objectCacheKey(k: ObjectCacheKey): string {
  return [k.identityKey, k.vaultUrl.replace(/\/+$/, '').toLowerCase(), k.type, k.name.toLowerCase(), k.version ?? 'latest'].join('\0');
}

export class ObjectCache<V> {
  readonly #latestTtlMs: number;
  readonly #pinnedTtlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { value: V; startedAt: number; expiresAt: number }>();
  readonly #inflight = new Map<string, { id: number; flight: Promise<V>; startedAt: number }>();
  #flights = 0;
  readonly #stats: ObjectCacheStats = { hits: 0, shared: 0, loads: 0 };

  constructor(opts: ObjectCacheOptions = {}) {
    this.#latestTtlMs = Math.max(0, opts.latestTtlMs ?? DEFAULT_LATEST_TTL_MS);
    this.#pinnedTtlMs = Math.max(0, opts.pinnedTtlMs ?? DEFAULT_PINNED_TTL_MS);
    this.#maxEntries = Math.max(0, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#now = opts.now ?? Date.now;
  }

  /** Kept results (expired ones included until next touched). */
  get size(): number {
    return this.#entries.size;
  }

  get stats(): Readonly<ObjectCacheStats> {
    return { ...this.#stats };
  }

  /** The current time of the cache's clock (for `notReadBefore`). */
  now(): number {
    return this.#now();
  }

  /**
   * The kept result for `key`, else the read in flight for it, else `load()` (shared while in flight).
   * With `notReadBefore`, kept results and flights of reads started earlier are not used.
   */
  get(key: ObjectCacheKey, load: () => Promise<V>, opts: { notReadBefore?: number } = {}): Promise<V> {
    const k = objectCacheKey(key);
    // A pinned version never changes: any earlier read of it will do.
    const notBefore = key.version === undefined ? (opts.notReadBefore ?? -Infinity) : -Infinity;
    const entry = this.#entries.get(k);
    if (entry !== undefined && entry.startedAt > notBefore) {
      this.#entries.delete(k);
      if (entry.expiresAt > this.#now()) {
        this.#entries.set(k, entry); // most recently used last
        this.#stats.hits++;
        return Promise.resolve(entry.value);
      }
    }
    const running = this.#inflight.get(k);
    if (running !== undefined && running.startedAt > notBefore) {
      this.#stats.shared++;
      return running.flight;
    }
    this.#stats.loads++;
    const ttl = key.version === undefined ? this.#latestTtlMs : this.#pinnedTtlMs;
    const startedAt = this.#now();
    const id = ++this.#flights;
    const done = (): void => {
      if (this.#inflight.get(k)?.id === id) this.#inflight.delete(k);
    };
    // `load` starts on the next microtask, after the flight is registered below.
    const flight = Promise.resolve()
      .then(load)
      .then(
        (value) => {
          done();
          if (ttl > 0 && this.#maxEntries > 0) this.#keep(k, value, startedAt, this.#now() + ttl);
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

  /** Forgets every kept result (reads in flight still complete for their waiters). */
  clear(): void {
    this.#entries.clear();
  }

  #keep(k: string, value: V, startedAt: number, expiresAt: number): void {
    const kept = this.#entries.get(k);
    if (kept !== undefined && kept.startedAt > startedAt) return; // a newer read is already kept
    this.#entries.delete(k);
    this.#entries.set(k, { value, startedAt, expiresAt });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}

/**
 * Keys seen recently, bounded in size and age: Event Grid delivers at least once (a retry after a lost
 * answer, the same event to several subscriptions), so a refresh must not run twice for one event.
 */
export class RecentSet {
  readonly #maxSize: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** key → when it was added; Map keeps insertion order, so the oldest come first. */
  readonly #seen = new Map<string, number>();

  constructor(opts: { maxSize?: number; ttlMs?: number; now?: () => number } = {}) {
    this.#maxSize = opts.maxSize ?? 10_000;
    this.#ttlMs = opts.ttlMs ?? 3600_000;
    this.#now = opts.now ?? Date.now;
  }

  /** True when `key` was added within the TTL. */
  has(key: string): boolean {
    const at = this.#seen.get(key);
    return at !== undefined && this.#now() - at < this.#ttlMs;
  }

  /** Records `key` (refreshing its age); the oldest entries beyond the size bound are dropped. */
  add(key: string): void {
    this.#seen.delete(key);
    this.#seen.set(key, this.#now());
    const cutoff = this.#now() - this.#ttlMs;
    for (const [k, at] of this.#seen) {
      if (this.#seen.size <= this.#maxSize && at >= cutoff) break;
      this.#seen.delete(k);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}

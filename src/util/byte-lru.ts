/**
 * A least-recently-used map bounded both in entries and in bytes (as the caller measures them). Caches
 * of tenant-controlled content use it: a count bound alone lets a few large values take any amount of
 * memory, so every kept value is charged its size and the oldest are evicted until both bounds hold.
 */
export interface ByteLruOptions {
  /** Most entries kept (0 = none). */
  maxEntries: number;
  /** Most bytes kept, summed over the entries' charged sizes (0 = none). */
  maxBytes: number;
}

interface Slot<V> {
  value: V;
  bytes: number;
}

export class ByteLru<V> {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #slots = new Map<string, Slot<V>>();
  #bytes = 0;

  constructor(opts: ByteLruOptions) {
    this.#maxEntries = Math.max(0, opts.maxEntries);
    this.#maxBytes = Math.max(0, opts.maxBytes);
  }

  /** Entries kept. */
  get size(): number {
    return this.#slots.size;
  }

  /** Bytes charged for the kept entries. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The value for `key`, which becomes the most recently used. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return slot.value;
  }

  /** The value for `key`, leaving the order as it is. */
  peek(key: string): V | undefined {
    return this.#slots.get(key)?.value;
  }

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  /**
   * Keeps `value` as the most recently used, charged `bytes`, then evicts the least recently used until
   * both bounds hold. A value larger than `maxBytes` on its own is not kept (and replaces nothing):
   * returns false.
   */
  set(key: string, value: V, bytes: number): boolean {
    const charged = Math.max(0, Math.ceil(bytes));
    if (charged > this.#maxBytes || this.#maxEntries === 0) return false;
    this.delete(key);
    this.#slots.set(key, { value, bytes: charged });
    this.#bytes += charged;
    for (const [oldest, slot] of this.#slots) {
      if (this.#slots.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#slots.delete(oldest);
      this.#bytes -= slot.bytes;
    }
    return true;
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#slots.delete(key);
    this.#bytes -= slot.bytes;
    return true;
  }

  clear(): void {
    this.#slots.clear();
    this.#bytes = 0;
  }

  /** Keys and values, least recently used first (a snapshot: deleting while iterating is safe). */
  entries(): [string, V][] {
    return [...this.#slots].map(([k, s]) => [k, s.value]);
  }
}

/**
 * The MACs (mac.ts) of the data this replica wrote to each Secret, recorded before each write is sent,
 * so that drift repair (drift-repair.ts) never mistakes the watch event of kvsync's own write, which can
 * arrive before the write's response, for a change made by someone else.
 */

/** The MACs of the data this replica wrote (or is writing) to each Secret. */
export class WrittenMacs {
  /** Per `namespace/name`: the MAC of the last data written, plus any write still in flight. */
  readonly #macs = new Map<string, ReadonlySet<string>>();

  /**
   * Runs `write`, which applies data whose MAC is `mac` to the Secret. While it runs, both the data
   * before and the data being written are kvsync's; after it, only what it wrote (or, when it failed,
   * what was there before).
   */
  async write<T>(namespace: string, name: string, mac: string, write: () => Promise<T>): Promise<T> {
    const key = `${namespace}/${name}`;
    const before = this.#macs.get(key);
    this.#macs.set(key, new Set([...(before ?? []), mac]));
    try {
      const result = await write();
      this.#macs.set(key, new Set([mac]));
      return result;
    } catch (err) {
      if (before === undefined) this.#macs.delete(key);
      else this.#macs.set(key, before);
      throw err;
    }
  }

  /** Whether `mac` is data this replica wrote to the Secret; undefined when it wrote nothing there. */
  wrote(namespace: string, name: string, mac: string): boolean | undefined {
    return this.#macs.get(`${namespace}/${name}`)?.has(mac);
  }
}

/** Subscribers told of each event in the order they subscribed; an observer must not throw. */
export class Observers<E> {
  readonly #list = new Set<(e: E) => void>();

  get size(): number {
    return this.#list.size;
  }

  /** Subscribes `observer`; returns the unsubscribe function. */
  observe(observer: (e: E) => void): () => void {
    this.#list.add(observer);
    return () => {
      this.#list.delete(observer);
    };
  }

  tell(e: E): void {
    for (const o of this.#list) o(e);
  }
}

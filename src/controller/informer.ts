/**
 * An informer that survives watch failures. client-node 2.x's ListWatch stops for good on any error
 * other than 410/timeout, and `stop()` itself fires an `error` (AbortError); this wrapper restarts it
 * with capped exponential backoff (1 s doubling to 30 s, reset by the next event) unless WE stopped
 * it, and calls `onResync` periodically so the owner can re-enqueue everything in the cache (level-based
 * reconciliation never depends on having seen every event).
 */
import * as k8s from '@kubernetes/client-node';

export interface ResilientInformerOptions<T extends k8s.KubernetesObject> {
  kc: k8s.KubeConfig;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  labelSelector?: string;
  onAdd?: (obj: T) => void;
  onUpdate?: (obj: T, old: T | undefined) => void;
  onDelete?: (obj: T) => void;
  /** Watch failure (restart scheduled); never fired for our own stop. */
  onError?: (err: unknown, restartInMs: number) => void;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Drops the part of a cached object nothing here reads, in place (client-node's cache holds this same
 * object): the field set (`fieldsV1`) of each managedFields entry, which takes most of the memory of a
 * cached KeyVaultSync or Secret (a heap snapshot at 1,000 of each: 4.1 of the 4.9 MiB their metadata
 * held). Who manages the object and how (`manager`, `operation`, `subresource`) stays.
 */
export function slimForCache(o: k8s.KubernetesObject): void {
  const entries = o.metadata?.managedFields;
  if (o.metadata === undefined || entries === undefined || !entries.some((e) => e.fieldsV1 !== undefined)) return;
  // New entries rather than `delete`: a deleted property leaves each entry a slower, larger dictionary.
  o.metadata.managedFields = entries.map(({ fieldsV1: _fields, ...entry }) => entry);
}

function keyOf(o: k8s.KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

export class ResilientInformer<T extends k8s.KubernetesObject> {
  readonly #opts: ResilientInformerOptions<T>;
  #informer: k8s.ListWatch<T>;
  /** Objects by `namespace/name`, as of the previous event (to hand `old` to onUpdate). */
  readonly #previous = new Map<string, T>();
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #backoffMs: number;
  #synced = false;
  #restarts = 0;
  #ignoredErrors = 0;

  constructor(opts: ResilientInformerOptions<T>) {
    this.#opts = opts;
    this.#backoffMs = opts.baseBackoffMs ?? 1000;
    this.#informer = this.#makeInformer();
  }

  #makeInformer(): k8s.ListWatch<T> {
    const opts = this.#opts;
    const informer = new k8s.ListWatch<T>(opts.path, new k8s.Watch(opts.kc), opts.list, false, opts.labelSelector);
    const current = (): boolean => informer === this.#informer;
    informer.on('add', (o) => {
      if (!current()) return;
      slimForCache(o);
      this.#resetBackoff();
      const key = keyOf(o);
      const old = this.#previous.get(key);
      this.#previous.set(key, o);
      // After a relist every object is "added" again: report known ones as updates.
      if (old === undefined) opts.onAdd?.(o);
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) opts.onUpdate?.(o, old);
    });
    informer.on('update', (o) => {
      if (!current()) return;
      slimForCache(o);
      this.#resetBackoff();
      const old = this.#previous.get(keyOf(o));
      this.#previous.set(keyOf(o), o);
      opts.onUpdate?.(o, old);
    });
    informer.on('delete', (o) => {
      if (!current()) return;
      this.#resetBackoff();
      this.#previous.delete(keyOf(o));
      opts.onDelete?.(o);
    });
    informer.on('error', (err) => {
      if (current()) this.#onError(err);
    });
    return informer;
  }

  /**
   * A full relist with a fresh informer (the periodic relist that catches anything a silently
   * stalled watch missed): changed objects are reported as updates, vanished ones as deletes.
   */
  async relist(): Promise<void> {
    if (this.#stopping) return;
    const old = this.#informer;
    this.#informer = this.#makeInformer();
    await old.stop();
    if (this.#restartTimer !== undefined) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
    }
    await this.#informer.start();
    // The list failed (an error restart is scheduled): nothing is known to have vanished.
    if (this.#informer.latestResourceVersion() === '') return;
    const live = new Set(this.#informer.list().map(keyOf));
    for (const [key, o] of [...this.#previous]) {
      if (live.has(key)) continue;
      this.#previous.delete(key);
      this.#opts.onDelete?.(o);
    }
  }

  /** Lists (filling the cache) and starts watching; rejects when the first list fails. */
  async start(): Promise<void> {
    this.#stopping = false;
    await this.#informer.start();
    this.#synced = true;
  }

  /** True once the first list has completed. */
  get synced(): boolean {
    return this.#synced;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Errors swallowed because we were stopping (for tests and diagnostics). */
  get ignoredErrors(): number {
    return this.#ignoredErrors;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#informer.list(namespace);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    await this.#informer.stop();
  }

  #resetBackoff(): void {
    this.#backoffMs = this.#opts.baseBackoffMs ?? 1000;
  }

  #onError(err: unknown): void {
    if (this.#stopping) {
      // Our own stop() makes client-node fire an AbortError: never a reason to restart.
      this.#ignoredErrors += 1;
      return;
    }
    if (this.#restartTimer !== undefined) return; // a restart is already scheduled
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(delay * 2, this.#opts.maxBackoffMs ?? 30_000);
    this.#opts.onError?.(err, delay);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.#restarts += 1;
      // start() resumes from the last resourceVersion (a 410 then makes it relist); a failing list
      // fires `error` again, which schedules the next attempt with a longer delay.
      this.#informer.start().catch((e: unknown) => this.#onError(e));
    }, delay);
  }
}

/**
 * How loudly to report a watch failure. HTTP 429 is the apiserver's "not yet": a just-created CRD
 * answers it while its storage initialises, and API priority and fairness under load. The restart
 * backoff retries it, so the first retries are debug; a 429 that persists, and any other failure, warn.
 */
export function watchFailureLevel(err: unknown, restartInMs: number): 'debug' | 'warn' {
  const e = err as { statusCode?: unknown; code?: unknown } | null | undefined;
  const status = e?.statusCode ?? e?.code;
  return status === 429 && restartInMs < 8_000 ? 'debug' : 'warn';
}

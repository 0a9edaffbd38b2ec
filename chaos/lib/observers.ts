/**
 * The checker's own eyes, sharing nothing with the controller: a list+watch of the Secrets of one
 * namespace on client-node's raw Watch (relisting after any error or close, so a missed event is made
 * up by the next list), and a reader of mounted directories that resolves `..data` once and reads every
 * file of that one generation, as an application sees a consistent set.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

export type SecretEvent = 'LISTED' | 'ADDED' | 'MODIFIED' | 'DELETED';

export interface SecretSeen {
  name: string;
  event: SecretEvent;
  /** Undefined after DELETED. */
  secret: k8s.V1Secret | undefined;
  atMs: number;
}

/** Every state of every Secret of a namespace, as events and relists show them. */
export class SecretWatcher {
  readonly #kc: k8s.KubeConfig;
  readonly #core: k8s.CoreV1Api;
  readonly #namespace: string;
  readonly #onSeen: (seen: SecretSeen) => void;
  readonly #known = new Map<string, string>();
  #abort: AbortController | undefined;
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Lists after the first one (after an error, a 410 or a closed watch). */
  relists = 0;

  constructor(kc: k8s.KubeConfig, namespace: string, onSeen: (seen: SecretSeen) => void) {
    this.#kc = kc;
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#namespace = namespace;
    this.#onSeen = onSeen;
  }

  /** Resolves after the first list has been seen and the watch started. */
  async start(): Promise<void> {
    await this.#listAndWatch();
  }

  async #listAndWatch(): Promise<void> {
    const list = await this.#core.listNamespacedSecret({ namespace: this.#namespace });
    const atMs = Date.now();
    const names = new Set<string>();
    for (const s of list.items) {
      const name = s.metadata?.name ?? '';
      names.add(name);
      // Only states not seen yet: a relist repeats every unchanged Secret.
      if (this.#known.get(name) !== s.metadata?.resourceVersion) {
        this.#known.set(name, s.metadata?.resourceVersion ?? '');
        this.#onSeen({ name, event: 'LISTED', secret: s, atMs });
      }
    }
    for (const name of [...this.#known.keys()]) {
      if (names.has(name)) continue;
      this.#known.delete(name);
      this.#onSeen({ name, event: 'DELETED', secret: undefined, atMs });
    }
    const watch = new k8s.Watch(this.#kc);
    this.#abort = await watch.watch(
      `/api/v1/namespaces/${this.#namespace}/secrets`,
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (phase: string, obj: k8s.V1Secret) => {
        if (phase === 'ERROR') {
          // 410 Gone and other watch errors: start over from a list.
          this.#restart();
          return;
        }
        if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return;
        const name = obj.metadata?.name ?? '';
        if (phase === 'DELETED') this.#known.delete(name);
        else this.#known.set(name, obj.metadata?.resourceVersion ?? '');
        this.#onSeen({ name, event: phase, secret: phase === 'DELETED' ? undefined : obj, atMs: Date.now() });
      },
      () => this.#restart(),
    );
  }

  #restart(): void {
    if (this.#stopping || this.#restartTimer !== undefined) return;
    this.#abort?.abort();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.relists += 1;
      this.#listAndWatch().catch(() => this.#restart());
    }, 1000);
  }

  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    this.#abort?.abort();
  }
}

/** The files of a Secret as the checker compares them: key → bytes. */
export function secretData(secret: k8s.V1Secret): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/**
 * One consistent generation of a mounted directory, read as an application reads it (through `..data`):
 * every file of `dir/..data/`, with `..data` resolved before and after; when the writer switched it in
 * between (or removed the old generation while it was read) the read starts over. Undefined before the
 * first write or when the directory kept changing.
 */
export function readMountGeneration(dir: string): { generation: string; files: Record<string, Buffer> } | undefined {
  const data = join(dir, '..data');
  for (let attempt = 0; attempt < 10; attempt++) {
    let before: string;
    try {
      before = readlinkSync(data);
    } catch {
      return undefined;
    }
    const files: Record<string, Buffer> = {};
    try {
      for (const name of readdirSync(data)) files[name] = readFileSync(join(data, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      continue;
    }
    let after: string | undefined;
    try {
      after = readlinkSync(data);
    } catch {
      after = undefined;
    }
    if (after === before) return { generation: before, files };
  }
  return undefined;
}

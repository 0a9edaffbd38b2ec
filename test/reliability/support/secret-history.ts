/**
 * Watches every Secret of a namespace for the whole of a test and keeps each state it saw, so the
 * test can check afterwards that no Secret ever held anything but a complete render of versions the
 * vault held: every key present, each value exactly one version's value, all keys of one Secret from
 * one generation, and no generation older than one already seen (a stale write). The watch survives
 * apiserver restarts: it resumes from the last resourceVersion and relists on 410 Gone.
 */
import * as k8s from '@kubernetes/client-node';

export interface SecretState {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'LISTED';
  name: string;
  resourceVersion: string;
  data: Record<string, string>;
  /** Owner UIDs (ownerReferences). */
  owners: string[];
  /** When the watcher saw it (this process's clock). */
  at: number;
}

export class SecretHistory {
  readonly states: SecretState[] = [];
  readonly #kc: k8s.KubeConfig;
  readonly #namespace: string;
  #resourceVersion = '';
  #request: { abort(): void } | undefined;
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(kc: k8s.KubeConfig, namespace: string) {
    this.#kc = kc;
    this.#namespace = namespace;
  }

  /** Lists (every Secret recorded as LISTED) and starts watching. */
  async start(): Promise<void> {
    await this.#list();
    await this.#watch();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    this.#request?.abort();
  }

  /** States of one Secret, in the order seen. */
  of(name: string): SecretState[] {
    return this.states.filter((s) => s.name === name);
  }

  /** States seen after `since` (ms, this process's clock). */
  after(since: number): SecretState[] {
    return this.states.filter((s) => s.at > since);
  }

  async #list(): Promise<void> {
    const list = await this.#kc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: this.#namespace });
    for (const s of list.items) this.#record('LISTED', s);
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
  }

  async #watch(): Promise<void> {
    if (this.#stopped) return;
    const restart = (relist: boolean): void => {
      if (this.#stopped || this.#restartTimer !== undefined) return;
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = undefined;
        void (relist ? this.#list() : Promise.resolve()).then(() => this.#watch()).catch(() => restart(relist));
      }, 250);
    };
    let gone = false;
    try {
      this.#request = await new k8s.Watch(this.#kc).watch(
        `/api/v1/namespaces/${this.#namespace}/secrets`,
        { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true },
        (type: string, obj: k8s.V1Secret | k8s.V1Status) => {
          if (type === 'ERROR') {
            gone = (obj as k8s.V1Status).code === 410;
            return;
          }
          const secret = obj as k8s.V1Secret;
          this.#resourceVersion = secret.metadata?.resourceVersion ?? this.#resourceVersion;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.#record(type, secret);
        },
        (err: unknown) => {
          const status = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode ?? (err as { code?: unknown } | null)?.code;
          restart(gone || status === 410);
        },
      );
    } catch {
      restart(false);
    }
  }

  #record(type: SecretState['type'], s: k8s.V1Secret): void {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
    this.states.push({
      type,
      name: s.metadata?.name ?? '',
      resourceVersion: s.metadata?.resourceVersion ?? '',
      data,
      owners: (s.metadata?.ownerReferences ?? []).map((o) => o.uid),
      at: Date.now(),
    });
  }
}

/** Which vault object each key of a Secret is rendered from: Secret name → key → object name. */
export type RenderMap = Record<string, Record<string, string>>;

/**
 * The violations of the render invariant in `states` (empty: none): each state of a Secret named in
 * `render` (deletions aside) has exactly its keys, each value one generation's value of its object
 * (`generationOf` says which, or undefined for a value the vault never held), one generation for all
 * keys, and never a generation older than one seen before. "One generation" holds when the test rotates
 * the vault only while no sync reads it (Key Vault has no transaction over two objects either).
 */
export function renderViolations(states: readonly SecretState[], render: RenderMap, generationOf: (object: string, value: string) => number | undefined): string[] {
  const violations: string[] = [];
  const newest = new Map<string, number>();
  for (const s of states) {
    const keys = render[s.name];
    if (keys === undefined || s.type === 'DELETED') continue;
    const where = `Secret ${s.name} at resourceVersion ${s.resourceVersion} (${s.type})`;
    const expected = Object.keys(keys).sort();
    const actual = Object.keys(s.data).sort();
    if (expected.join(',') !== actual.join(',')) {
      violations.push(`${where}: keys [${actual.join(', ')}], expected [${expected.join(', ')}]`);
      continue;
    }
    const generations = new Set<number>();
    for (const [key, object] of Object.entries(keys)) {
      const g = generationOf(object, s.data[key] ?? '');
      if (g === undefined) violations.push(`${where}: key ${key} holds a value no version of ${object} had`);
      else generations.add(g);
    }
    if (generations.size > 1) violations.push(`${where}: keys from generations ${[...generations].sort().join(' and ')} (a mix of versions)`);
    const g = Math.min(...generations);
    const before = newest.get(s.name);
    if (before !== undefined && g < before) violations.push(`${where}: generation ${g} after generation ${before} was seen (a stale write)`);
    newest.set(s.name, Math.max(g, before ?? g));
  }
  return violations;
}

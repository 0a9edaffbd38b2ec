/**
 * The reconciler of ClusterKeyVaultSyncs: one sync reads the objects once (credential, shared fetch,
 * render, exactly as a KeyVaultSync's), then writes the same Secrets into every namespace the
 * namespaceSelector selects, and prunes them (per deletionPolicy) from namespaces that stopped
 * matching or Secrets that left the spec. A namespace that fails does not stop the others: it is
 * listed in status.failedNamespaces and the whole resource is retried with backoff.
 *
 * Identity: the resource is cluster-scoped, so its identity is resolved in the controller's own
 * namespace (a ServiceAccount or service-principal Secret there, or a KeyVaultIdentity that grants
 * that namespace, through the same grant check as every KeyVaultSync). No tenant namespace's grant
 * is used, so a fan-out widens no tenant's access.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { failureCondition, type FailureReason } from '../api/condition-reasons.ts';
import type { ClusterKeyVaultSyncStatus, FailedNamespace } from '../api/clusterkeyvaultsync-schema.ts';
import { CLUSTER_STATUS_LIMITS } from '../api/clusterkeyvaultsync-schema.ts';
import { GROUP, VERSION, parseClusterKeyVaultSync, parseKeyVaultIdentity, selectorMatches, type ResolvedKeyVaultIdentity } from '../api/index.ts';
import type { VaultHostPolicy } from '../api/vault-url.ts';
import { findCondition, setCondition } from './conditions.ts';
import { apiServerUnreachable, ControllerError, NotLeaderError, recordFailure } from './errors.ts';
import type { EventRecorder, EventTarget } from './events.ts';
import { FORCE_SYNC_ANNOTATION } from './labels.ts';
import { dataMac } from './mac.ts';
import type { DesiredSecret, SyncPipeline } from './pipeline.ts';
import { failedSyncRetry, requiredFailures, type OutputWriter } from './reconciler.ts';
import type { SyncOwner } from './secret-writer.ts';
import { objectStatuses, READY, SYNCED } from './status.ts';
import { jittered, type QueueResult } from './workqueue.ts';
import type { WrittenMacs } from './written-macs.ts';

export const CLUSTER_PLURAL = 'clusterkeyvaultsyncs';

/** A ClusterKeyVaultSync as the informer holds it. */
export interface ClusterKeyVaultSyncObject extends k8s.KubernetesObject {
  spec?: unknown;
  status?: ClusterKeyVaultSyncStatus;
}

/** Namespaces written at once by one sync: enough to keep the apiserver busy, few enough to be fair to KeyVaultSyncs. */
const NAMESPACE_WRITERS = 4;

export interface ClusterStatusWriter {
  patchClusterStatus(name: string, status: ClusterKeyVaultSyncStatus): Promise<void>;
}

/** The namespace counts of each ClusterKeyVaultSync (the `kvsync_cluster_sync_namespaces` gauge). */
export interface FanOutMetrics {
  namespaces(name: string, counts: { matched: number; synced: number; failed: number }): void;
  forget(name: string): void;
}

export interface FanOutDeps {
  /** Whether the namespace and Secret caches hold their first listing (before that, nothing is synced or pruned). */
  listed(): boolean;
  getCluster(name: string): ClusterKeyVaultSyncObject | undefined;
  /** Every namespace, from the namespace informer. */
  listNamespaces(): readonly k8s.V1Namespace[];
  /** The Secrets labelled as this ClusterKeyVaultSync's (informer cache): where pruning looks. */
  listWritten(name: string): readonly k8s.V1Secret[];
  listIdentities(): readonly k8s.KubernetesObject[];
  pipeline: SyncPipeline;
  writer: Pick<OutputWriter, 'check' | 'applySecret' | 'prune'>;
  status: ClusterStatusWriter;
  events: EventRecorder;
  /** The controller's own namespace: where the identity is resolved and the events are kept. */
  operatorNamespace: string;
  macKey: Buffer;
  written: WrittenMacs;
  isLeader(): boolean;
  vaults: VaultHostPolicy;
  log: Logger;
  metrics?: FanOutMetrics | undefined;
  now?: () => Date;
  random?: () => number;
}

/** What one namespace's writes did. */
type NamespaceOutcome = { ok: true; changed: string[] } | { ok: false; failure: FailedNamespace };

export class FanOutReconciler {
  readonly #d: FanOutDeps;
  readonly #now: () => Date;
  readonly #random: () => number;
  /** Per name, the uid, generation and force-sync value of the last successful sync (fresh fetch otherwise). */
  readonly #syncedAs = new Map<string, string>();

  constructor(deps: FanOutDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#random = deps.random ?? Math.random;
  }

  /** The ClusterKeyVaultSync is gone: nothing kept about it (its Secrets are the garbage collector's). */
  forget(name: string): void {
    this.#syncedAs.delete(name);
    this.#d.pipeline.forgetSync?.('', name);
    this.#d.metrics?.forget(name);
  }

  async reconcile(name: string): Promise<QueueResult> {
    const obj = this.#d.getCluster(name);
    if (obj === undefined || obj.metadata?.deletionTimestamp !== undefined) {
      this.forget(name);
      return {};
    }
    const uid = obj.metadata?.uid ?? '';
    const generation = obj.metadata?.generation;
    const target: EventTarget = { kind: 'ClusterKeyVaultSync', name, namespace: this.#d.operatorNamespace, uid, resourceVersion: obj.metadata?.resourceVersion };
    const log = this.#d.log.child({ clusterKeyVaultSync: name, generation });
    const parsed = parseClusterKeyVaultSync(obj, this.#d.vaults);
    if (!parsed.ok) {
      await this.#fail(obj, target, 'InvalidSpec', parsed.error.message, log);
      return {};
    }
    const { sync, namespaceSelector } = parsed.value;
    if (!this.#d.listed()) return { requeueAfterMs: 1000 };
    try {
      const auth = await this.#d.pipeline.credentialFor(sync, { namespace: this.#d.operatorNamespace, identities: this.#identities() });
      const syncedAs = `${uid}|${generation ?? ''}|${obj.metadata?.annotations?.[FORCE_SYNC_ANNOTATION] ?? ''}`;
      const before = this.#syncedAs.get(name);
      // One read per object for every namespace: the fetch is the same as one KeyVaultSync's.
      const result = await this.#d.pipeline.fetchShared(sync, auth, { fresh: before !== syncedAs, priority: obj.status?.lastSyncTime === undefined ? 'high' : 'normal' });
      const selected = result.sync ?? sync;
      const failed = requiredFailures(selected, result);
      const first = failed[0];
      if (first !== undefined) throw new ControllerError(first.reason, failed.map((f) => f.message).join('; '), { object: first.object, retryAfterMs: Math.max(0, ...failed.map((f) => f.retryAfterMs ?? 0)) });
      const rendered = this.#d.pipeline.renderOutputs(selected, result.fetched);

      const matched = this.#d.listNamespaces()
        .filter((ns) => ns.status?.phase !== 'Terminating' && ns.metadata?.deletionTimestamp === undefined && selectorMatches(namespaceSelector, ns.metadata?.labels ?? {}))
        .map((ns) => ns.metadata?.name ?? '')
        .sort();
      const ready = findCondition(obj.status?.conditions, READY);
      const skipIfCurrent = ready?.status === 'True' && generation !== undefined && ready.observedGeneration === generation;
      const outcomes = await inBatches(matched, NAMESPACE_WRITERS, (namespace) => this.#writeNamespace({ name, namespace, uid, kind: 'ClusterKeyVaultSync' }, rendered.secrets, skipIfCurrent));
      const changed = outcomes.flatMap((o) => (o.ok ? o.changed : []));
      const failures = outcomes.flatMap((o) => (o.ok ? [] : [o.failure]));
      changed.push(...(await this.#prune(name, uid, new Set(matched), new Set(rendered.secrets.map((s) => s.name)))));

      const counts = { matched: matched.length, synced: matched.length - failures.length, failed: failures.length };
      this.#d.metrics?.namespaces(name, counts);
      const now = this.#now();
      const status = this.#status(obj, { generation, now, counts, failures, objects: objectStatuses(result.fetched), secrets: rendered.secrets.length });
      if (before !== syncedAs || statusChanged(obj.status, status)) await this.#patchStatus(name, status);
      if (changed.length > 0 && ready !== undefined) await this.#d.events.record(target, 'Normal', 'Updated', `wrote ${summarise(changed)}`);
      if (failures.length > 0) {
        const message = namespacesFailedMessage(failures, counts.matched);
        if (ready?.reason !== 'NamespacesFailed' || ready.message !== message) await this.#d.events.record(target, 'Warning', 'NamespacesFailed', message);
        log.warn({ failed: failures.map((f) => `${f.name}: ${f.reason}`) }, 'some namespaces not synced');
        // The synced namespaces are done; the failed ones come back with the queue's backoff.
        return { retry: failedSyncRetry(sync, undefined) };
      }
      if (ready !== undefined && ready.status !== 'True') await this.#d.events.record(target, 'Normal', 'Synced', `all ${counts.matched} selected namespace(s) up to date`);
      this.#syncedAs.set(name, syncedAs);
      if (changed.length > 0) log.info({ changed: changed.length, namespaces: counts.matched }, 'synced');
      return sync.refreshIntervalMs > 0 ? { requeueAfterMs: jittered(sync.refreshIntervalMs, 0.1, this.#random) } : {};
    } catch (err) {
      if (err instanceof NotLeaderError) return {};
      const { reason, message, retryAfterMs } = failureCondition(apiServerUnreachable(err) ?? err);
      await recordFailure(() => this.#fail(obj, target, reason, message, log), log);
      return { retry: failedSyncRetry(sync, retryAfterMs) };
    }
  }

  /** Checks and writes every Secret into one namespace; a refusal or write failure is that namespace's only. */
  async #writeNamespace(owner: SyncOwner, secrets: readonly DesiredSecret[], skipIfCurrent: boolean): Promise<NamespaceOutcome> {
    const { namespace } = owner;
    try {
      this.#mayWrite();
      await this.#d.writer.check(owner, secrets, []);
      const changed: string[] = [];
      for (const s of secrets) {
        this.#mayWrite();
        const mac = dataMac(this.#d.macKey, { namespace, name: s.name, type: s.type }, s.data);
        const outcome = await this.#d.written.write(namespace, s.name, mac, () => this.#d.writer.applySecret(owner, s, { skipIfCurrent }));
        if (outcome !== 'unchanged') changed.push(`Secret ${namespace}/${s.name} (${outcome})`);
      }
      return { ok: true, changed };
    } catch (err) {
      if (err instanceof NotLeaderError) throw err;
      const { reason, message } = failureCondition(apiServerUnreachable(err) ?? err);
      return { ok: false, failure: { name: namespace, reason, message: message.slice(0, CLUSTER_STATUS_LIMITS.messageLength) } };
    }
  }

  /**
   * Secrets of this ClusterKeyVaultSync in namespaces it no longer selects, or that left the spec: each
   * goes as the resource's deletion would take it (SecretWriter.prune proves ownership by UID first).
   * Under Retain they carry no owner reference and stay, no longer updated, without a request.
   */
  async #prune(name: string, uid: string, matched: ReadonlySet<string>, names: ReadonlySet<string>): Promise<string[]> {
    const pruned: string[] = [];
    for (const s of this.#d.listWritten(name)) {
      const namespace = s.metadata?.namespace ?? '';
      const secretName = s.metadata?.name ?? '';
      if (matched.has(namespace) && names.has(secretName)) continue;
      if (!(s.metadata?.ownerReferences ?? []).some((r) => r.uid === uid)) continue;
      this.#mayWrite();
      const outcome = await this.#d.writer.prune({ name, namespace, uid, kind: 'ClusterKeyVaultSync' }, 'Secret', secretName);
      if (outcome === 'deleted') pruned.push(`Secret ${namespace}/${secretName} (pruned: deleted)`);
    }
    return pruned;
  }

  #status(
    obj: ClusterKeyVaultSyncObject,
    input: { generation: number | undefined; now: Date; counts: { matched: number; synced: number; failed: number }; failures: FailedNamespace[]; objects: ClusterKeyVaultSyncStatus['objects']; secrets: number },
  ): ClusterKeyVaultSyncStatus {
    const { generation, now, counts, failures } = input;
    const ok = failures.length === 0;
    // The same words for every sync of the same outcome, so a quiet refresh writes no status.
    const message = ok
      ? `synced ${input.objects?.length ?? 0} object(s) into ${input.secrets} Secret(s) in each of ${counts.matched} namespace(s)`
      : namespacesFailedMessage(failures, counts.matched);
    const reason = ok ? 'Synced' : 'NamespacesFailed';
    const status = ok ? 'True' : 'False';
    let conditions = setCondition(obj.status?.conditions, { type: SYNCED, status, reason, message, observedGeneration: generation }, now);
    conditions = setCondition(conditions, { type: READY, status, reason, message, observedGeneration: generation }, now);
    return {
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      conditions,
      lastSyncTime: now.toISOString(),
      matchedNamespaces: counts.matched,
      syncedNamespaces: counts.synced,
      failedNamespaces: [...failures].sort((a, b) => a.name.localeCompare(b.name)).slice(0, CLUSTER_STATUS_LIMITS.failedNamespaces),
      ...(input.objects === undefined ? {} : { objects: input.objects }),
    };
  }

  async #fail(obj: ClusterKeyVaultSyncObject, target: EventTarget, reason: FailureReason, message: string, log: Logger): Promise<void> {
    log.warn({ reason, detail: message }, 'cluster sync failed');
    if (!this.#d.isLeader()) return;
    const now = this.#now();
    const generation = obj.metadata?.generation;
    const previous = findCondition(obj.status?.conditions, READY);
    let conditions = setCondition(obj.status?.conditions, { type: SYNCED, status: 'False', reason, message, observedGeneration: generation }, now);
    conditions = setCondition(conditions, { type: READY, status: 'False', reason, message, observedGeneration: generation }, now);
    await this.#patchStatus(target.name, { ...obj.status, ...(generation === undefined ? {} : { observedGeneration: generation }), conditions });
    if (previous?.status !== 'False' || previous.reason !== reason || previous.message !== message) await this.#d.events.record(target, 'Warning', reason, message);
  }

  #identities(): ResolvedKeyVaultIdentity[] {
    return this.#d.listIdentities().flatMap((o) => {
      const parsed = parseKeyVaultIdentity(o);
      return parsed.ok ? [parsed.value] : [];
    });
  }

  #mayWrite(): void {
    if (!this.#d.isLeader()) throw new NotLeaderError();
  }

  async #patchStatus(name: string, status: ClusterKeyVaultSyncStatus): Promise<void> {
    this.#mayWrite();
    await this.#d.status.patchClusterStatus(name, status);
  }
}

/** `n of m namespaces failed: a (SecretConflict), b (WriteFailed), …` — names and reasons only. */
function namespacesFailedMessage(failures: readonly FailedNamespace[], matched: number): string {
  const shown = [...failures].sort((a, b) => a.name.localeCompare(b.name)).slice(0, 5);
  const more = failures.length > shown.length ? `, and ${failures.length - shown.length} more (status.failedNamespaces)` : '';
  return `${failures.length} of ${matched} selected namespace(s) not synced: ${shown.map((f) => `${f.name} (${f.reason})`).join(', ')}${more}`;
}

/** An event names at most a few writes: a fan-out into hundreds of namespaces says how many. */
function summarise(changed: readonly string[]): string {
  const shown = changed.slice(0, 8).join(', ');
  return changed.length > 8 ? `${shown}, and ${changed.length - 8} more` : shown;
}

/** Whether anything but lastSyncTime differs (conditions keep their transition times when unchanged). */
function statusChanged(previous: ClusterKeyVaultSyncStatus | undefined, next: ClusterKeyVaultSyncStatus): boolean {
  const strip = (s: ClusterKeyVaultSyncStatus | undefined): string => JSON.stringify({ ...s, lastSyncTime: undefined });
  return previous === undefined || strip(previous) !== strip(next);
}

/** Runs `work` over `items`, at most `width` at once, results in the order of `items`. */
async function inBatches<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, () => worker()));
  return out;
}

/** Writes a ClusterKeyVaultSync's status through the status subresource (JSON merge patch). */
export class KubeClusterStatusWriter implements ClusterStatusWriter {
  readonly #api: k8s.CustomObjectsApi;

  constructor(kc: k8s.KubeConfig) {
    this.#api = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async patchClusterStatus(name: string, status: ClusterKeyVaultSyncStatus): Promise<void> {
    try {
      await this.#api.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: CLUSTER_PLURAL, name, body: { status } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    } catch (err) {
      // Deleted meanwhile: nothing to report on.
      if (err instanceof k8s.ApiException && err.code === 404) return;
      throw err;
    }
  }
}

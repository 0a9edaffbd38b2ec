/**
 * Ingresses and Gateways that ask kvsync for their TLS Secret (tls-origin.ts): watched, each turned
 * into one derived KeyVaultSync that kvsync creates, keeps as derived and deletes when the request
 * goes; the KeyVaultSync's status changes become events on the Ingress or Gateway (tls-events.ts).
 *
 * Level-based like the main reconciler: a source's key (`Ingress/<ns>/<name>`) is reconciled on any
 * change of the source or of its derived KeyVaultSync, only by the leader. Gateways are watched only
 * when the apiserver serves gateway.networking.k8s.io/v1 (checked at start and at each relist).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AZURE_VAULT_HOSTS_ONLY, GROUP, VERSION, type VaultHostPolicy } from '../api/index.ts';
import { errorSummary } from './error-summary.ts';
import type { EventRecorder, EventTarget } from './events.ts';
import { ResilientInformer, watchFailureLevel } from './informer.ts';
import { PLURAL, type KeyVaultSyncObject } from './reconciler.ts';
import { tlsSourceEvents } from './tls-events.ts';
import {
  deriveGatewaySync,
  deriveIngressSync,
  derivedSyncName,
  GATEWAY_GROUP,
  sourceOf,
  TLS_ORIGIN_LABEL,
  type Derivation,
  type DerivedSync,
  type GatewayLike,
  type IngressLike,
  type TlsSourceKind,
} from '../api/tls-origin.ts';
import { WorkQueue, type QueueResult } from './workqueue.ts';

/** The field manager of derived KeyVaultSyncs. */
export const TLS_FIELD_MANAGER = 'kvsync-tls';

export interface TlsSourcesOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  /** Only this namespace; all when undefined. */
  namespace: string | undefined;
  events: EventRecorder;
  isLeader(): boolean;
  /** The operator's vault host policy: a request for another host is refused before anything is applied. */
  vaults?: VaultHostPolicy | undefined;
}

type GatewayObject = GatewayLike & k8s.KubernetesObject;

/** Splits `Kind/namespace/name`. */
function splitSourceKey(key: string): { kind: TlsSourceKind; namespace: string; name: string } {
  const [kind = '', namespace = '', ...rest] = key.split('/');
  return { kind: kind === 'Gateway' ? 'Gateway' : 'Ingress', namespace, name: rest.join('/') };
}

function sourceKey(kind: TlsSourceKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export class TlsSources {
  readonly #o: TlsSourcesOptions;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #writes: DerivedSyncWrites;
  readonly #ingresses: ResilientInformer<k8s.V1Ingress>;
  readonly #derived: ResilientInformer<KeyVaultSyncObject>;
  #gateways: ResilientInformer<GatewayObject> | undefined;
  readonly #queue: WorkQueue;
  /** Per source key, the refusal last reported: one event per distinct refusal, not per retry. */
  readonly #refused = new Map<string, string>();
  #stopped = false;

  constructor(opts: TlsSourcesOptions) {
    this.#o = opts;
    const { kc, namespace: ns, log } = opts;
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#writes = new DerivedSyncWrites(kc);
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    const onError = (informer: string) => (err: unknown, restartInMs: number) => log[watchFailureLevel(err, restartInMs)]({ informer, err: errorSummary(err), restartInMs }, 'watch failed; restarting');
    const enqueueIngress = (o: k8s.V1Ingress): void => this.#queue.add(sourceKey('Ingress', o.metadata?.namespace ?? '', o.metadata?.name ?? ''));
    this.#ingresses = new ResilientInformer<k8s.V1Ingress>({
      kc,
      path: ns === undefined ? '/apis/networking.k8s.io/v1/ingresses' : `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`,
      list: () => (ns === undefined ? net.listIngressForAllNamespaces() : net.listNamespacedIngress({ namespace: ns })),
      onAdd: enqueueIngress,
      onUpdate: (o, old) => {
        // Status-only writes (the ingress controller's load balancer address) change nothing here.
        if (old === undefined || o.metadata?.generation !== old.metadata?.generation || JSON.stringify(o.metadata?.annotations) !== JSON.stringify(old.metadata?.annotations)) enqueueIngress(o);
      },
      onDelete: (o) => this.#refused.delete(sourceKey('Ingress', o.metadata?.namespace ?? '', o.metadata?.name ?? '')),
      onError: onError('ingresses'),
    });
    const selector = TLS_ORIGIN_LABEL;
    this.#derived = new ResilientInformer<KeyVaultSyncObject>({
      kc,
      path: ns === undefined ? `/apis/${GROUP}/${VERSION}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
      labelSelector: selector,
      list: async () =>
        (ns === undefined
          ? await this.#custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, labelSelector: selector })
          : await this.#custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, labelSelector: selector })) as k8s.KubernetesListObject<KeyVaultSyncObject>,
      onUpdate: (o, old) => {
        this.#derivedChanged(o);
        if (old !== undefined) void this.#statusChanged(old, o);
      },
      onDelete: (o) => this.#derivedChanged(o),
      onError: onError('derived keyvaultsyncs'),
    });
    this.#queue = new WorkQueue({
      concurrency: 2,
      handler: (key) => (opts.isLeader() ? this.#reconcile(key) : Promise.resolve({})),
      onError: (key, err) => log.error({ source: key, err: errorSummary(err) }, 'TLS source reconcile failed; retrying with backoff'),
    });
  }

  get informers(): { synced: boolean; relist(): Promise<void>; stop(): Promise<void> }[] {
    return [this.#ingresses, this.#derived, ...(this.#gateways === undefined ? [] : [this.#gateways])];
  }

  async start(): Promise<void> {
    await Promise.all([this.#ingresses.start(), this.#derived.start()]);
    await this.discoverGateways();
    this.#queue.start();
  }

  /** Starts the Gateway watch once the apiserver serves Gateways; true when it runs. */
  async discoverGateways(): Promise<boolean> {
    if (this.#gateways !== undefined) return true;
    if (!(await this.#gatewaysServed())) return false;
    const ns = this.#o.namespace;
    const base = { group: GATEWAY_GROUP, version: 'v1', plural: 'gateways' };
    const enqueue = (o: GatewayObject): void => this.#queue.add(sourceKey('Gateway', o.metadata?.namespace ?? '', o.metadata?.name ?? ''));
    const gateways = new ResilientInformer<GatewayObject>({
      kc: this.#o.kc,
      path: ns === undefined ? `/apis/${GATEWAY_GROUP}/v1/gateways` : `/apis/${GATEWAY_GROUP}/v1/namespaces/${ns}/gateways`,
      list: async () => (ns === undefined ? await this.#custom.listClusterCustomObject(base) : await this.#custom.listNamespacedCustomObject({ ...base, namespace: ns })) as k8s.KubernetesListObject<GatewayObject>,
      onAdd: enqueue,
      onUpdate: (o, old) => {
        if (old === undefined || o.metadata?.generation !== old.metadata?.generation) enqueue(o);
      },
      onDelete: (o) => this.#refused.delete(sourceKey('Gateway', o.metadata?.namespace ?? '', o.metadata?.name ?? '')),
      onError: (err, restartInMs) => this.#o.log[watchFailureLevel(err, restartInMs)]({ informer: 'gateways', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
    });
    if (this.#stopped) return false;
    this.#gateways = gateways;
    await gateways.start();
    this.#o.log.info({}, 'watching Gateways (gateway.networking.k8s.io/v1)');
    return true;
  }

  /** Every source again (a new leader, a changed grant). */
  enqueueAll(): void {
    for (const i of this.#ingresses.list()) this.#queue.add(sourceKey('Ingress', i.metadata?.namespace ?? '', i.metadata?.name ?? ''));
    for (const g of this.#gateways?.list() ?? []) this.#queue.add(sourceKey('Gateway', g.metadata?.namespace ?? '', g.metadata?.name ?? ''));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.#queue.shutdown();
  }

  async #gatewaysServed(): Promise<boolean> {
    try {
      const list = await this.#o.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
      const group = list.groups.find((g) => g.name === GATEWAY_GROUP);
      return group?.versions.some((v) => v.version === 'v1') === true;
    } catch (err) {
      this.#o.log.warn({ err: errorSummary(err) }, 'API discovery failed; Gateways not watched for now');
      return false;
    }
  }

  /** A derived KeyVaultSync changed or went: its source is checked again (someone may have edited or deleted it). */
  #derivedChanged(o: KeyVaultSyncObject): void {
    const src = sourceOf(o);
    if (src !== undefined) this.#queue.add(sourceKey(src.kind, src.namespace, src.name));
  }

  async #statusChanged(before: KeyVaultSyncObject, after: KeyVaultSyncObject): Promise<void> {
    const src = sourceOf(after);
    if (src === undefined || !this.#o.isLeader()) return;
    const target = this.#target(src.kind, src.namespace, src.name, src.uid);
    for (const e of tlsSourceEvents(before, after)) await this.#o.events.record(target, e.type, e.reason, e.message);
  }

  #target(kind: TlsSourceKind, namespace: string, name: string, uid: string): EventTarget {
    return { kind, name, namespace, uid };
  }

  async #reconcile(key: string): Promise<QueueResult> {
    const { kind, namespace, name } = splitSourceKey(key);
    const source = kind === 'Ingress' ? this.#ingresses.get(name, namespace) : this.#gateways?.get(name, namespace);
    // Gone or going: the garbage collector removes the derived KeyVaultSync through its owner reference.
    if (source === undefined || source.metadata?.deletionTimestamp !== undefined) {
      this.#refused.delete(key);
      return {};
    }
    const uid = source.metadata?.uid ?? '';
    const target = this.#target(kind, namespace, name, uid);
    const policy = this.#o.vaults ?? AZURE_VAULT_HOSTS_ONLY;
    const derivation: Derivation = kind === 'Ingress' ? deriveIngressSync(source as IngressLike, policy) : deriveGatewaySync(source as GatewayObject, policy);
    const syncName = derivedSyncName(kind, name);
    const existing = this.#derived.get(syncName, namespace);
    const ours = existing !== undefined && sourceOf(existing)?.uid === uid;
    if (derivation.kind === 'none') {
      this.#refused.delete(key);
      if (ours) await this.#remove(existing, target);
      return {};
    }
    if (derivation.kind === 'refused') {
      await this.#refuse(key, target, derivation.reason, derivation.message);
      return {};
    }
    if (existing !== undefined && !ours) {
      // An earlier source of the same name whose KeyVaultSync the garbage collector has yet to remove, or someone else's.
      await this.#refuse(key, target, 'TLSSyncConflict', `KeyVaultSync ${syncName} exists and is not derived from this ${kind}; kvsync leaves it alone`);
      return { requeueAfterMs: 30_000 };
    }
    this.#refused.delete(key);
    if (ours && upToDate(existing, derivation.sync)) return {};
    if (ours) await this.#writes.apply(derivation.sync);
    else if (!(await this.#writes.create(derivation.sync, uid))) {
      await this.#refuse(key, target, 'TLSSyncConflict', `KeyVaultSync ${syncName} exists and is not derived from this ${kind}; kvsync leaves it alone`);
      return { requeueAfterMs: 30_000 };
    }
    return {};
  }

  async #refuse(key: string, target: EventTarget, reason: string, message: string): Promise<void> {
    const said = `${reason}: ${message}`;
    if (this.#refused.get(key) === said) return;
    this.#refused.set(key, said);
    this.#o.log.warn({ source: key, reason, detail: message }, 'TLS request refused');
    await this.#o.events.record(target, 'Warning', reason, message);
  }

  /** The request went from the source: its KeyVaultSync is deleted, and with it (Delete) its Secrets. */
  async #remove(sync: KeyVaultSyncObject, target: EventTarget): Promise<void> {
    if (!(await this.#writes.delete(sync))) return;
    const name = sync.metadata?.name ?? '';
    const secrets = ((sync.spec as { secretObjects?: { secretName?: string }[] } | undefined)?.secretObjects ?? []).map((s) => s.secretName).join(', ');
    const retained = (sync.spec as { deletionPolicy?: string } | undefined)?.deletionPolicy === 'Retain';
    await this.#o.events.record(target, 'Normal', 'TLSSecretReleased', `the kvsync TLS request was removed: deleted KeyVaultSync ${name}; Secret ${secrets} ${retained ? 'stays (Retain), no longer updated' : 'is deleted with it'}`);
  }
}

/** The writes of derived KeyVaultSyncs: what the chart's keyvaultsyncs admission policy admits. */
export class DerivedSyncWrites {
  readonly #custom: k8s.CustomObjectsApi;

  constructor(kc: k8s.KubeConfig) {
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  /** Creates the KeyVaultSync; false when one of its name exists that is not derived from the source of UID `uid`. */
  async create(sync: DerivedSync, uid: string): Promise<boolean> {
    const { namespace, name } = sync.metadata;
    try {
      await this.#custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, body: sync, fieldManager: TLS_FIELD_MANAGER });
      return true;
    } catch (err) {
      if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
    }
    // Created meanwhile (the cache had not seen it yet), or someone else's.
    const found = (await this.#custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as KeyVaultSyncObject;
    if (sourceOf(found)?.uid !== uid) return false;
    await this.apply(sync);
    return true;
  }

  /** Server-side applies what kvsync sets (only on a KeyVaultSync already known to be derived). */
  async apply(sync: DerivedSync): Promise<void> {
    const { namespace, name } = sync.metadata;
    await this.#custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: sync, fieldManager: TLS_FIELD_MANAGER, force: true },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    );
  }

  /** Deletes exactly this KeyVaultSync (UID precondition); false when it was already gone or replaced. */
  async delete(sync: KeyVaultSyncObject): Promise<boolean> {
    const { namespace = '', name = '', uid } = sync.metadata ?? {};
    try {
      await this.#custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { preconditions: { uid } } });
      return true;
    } catch (err) {
      if (err instanceof k8s.ApiException && (err.code === 404 || err.code === 409)) return false;
      throw err;
    }
  }
}

/**
 * Whether the derived KeyVaultSync already has what kvsync would apply (no write then): every field
 * kvsync sets has its value; fields the apiserver defaulted are not kvsync's to compare.
 */
function upToDate(existing: KeyVaultSyncObject, desired: DerivedSync): boolean {
  const m = existing.metadata;
  return (
    contains(existing.spec, desired.spec) &&
    m?.labels?.[TLS_ORIGIN_LABEL] === desired.metadata.labels[TLS_ORIGIN_LABEL] &&
    JSON.stringify((m?.ownerReferences ?? []).map((r) => [r.apiVersion, r.kind, r.name, r.uid, r.controller])) === JSON.stringify(desired.metadata.ownerReferences.map((r) => [r.apiVersion, r.kind, r.name, r.uid, r.controller]))
  );
}

/** True when `actual` holds every field of `wanted` with the same value (arrays element by element, of the same length). */
function contains(actual: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted)) return Array.isArray(actual) && actual.length === wanted.length && wanted.every((w, i) => contains(actual[i], w));
  if (wanted !== null && typeof wanted === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(wanted).every(([k, w]) => contains((actual as Record<string, unknown>)[k], w));
  }
  return actual === wanted;
}

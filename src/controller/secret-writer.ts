/**
 * Writes the desired Secrets and ConfigMaps of one KeyVaultSync by server-side apply, each object
 * whole in one request, with the KeyVaultSync's own field manager (`kvsync/<namespace>/<name>`), so two
 * KeyVaultSyncs never prune or take over each other's keys:
 * - creationPolicy Owner (default): an owner reference to the KeyVaultSync, so the garbage collector
 *   deletes the object with it; Orphan: no owner reference, the `kvsync.dev/owner-uid` annotation
 *   instead; Merge: our keys are applied into an object someone else created (their fields stay theirs;
 *   no owner reference, no managed-by label), only when its owner consented with
 *   `kvsync.dev/merge-from: <keyvaultsync>`.
 * - Ownership is proven by the KeyVaultSync's UID (owner reference or annotation), never by labels,
 *   which anyone who may create a Secret can copy. An existing object without that proof is never
 *   written without Merge and the owner's consent: {@link ControllerError} `SecretConflict`.
 * - Secret types that grant access or hold another tool's state (service-account and bootstrap tokens,
 *   Helm releases) are never written: `SecretProtected`.
 * - Keys that left the spec are pruned by SSA, because we apply the full set we own every time; an
 *   output that left the spec is pruned by {@link SecretWriter.prune} as the KeyVaultSync's deletion
 *   would have removed it (deletionPolicy).
 * - The 1 MiB limit was checked when the outputs were rendered (renderOutputs), before any request.
 * - Reads cost the apiserver nothing when they can: a Secret kvsync created is read from the informer
 *   cache of kvsync's Secrets, and only a name the cache does not hold is read by GET (once per sync:
 *   `check` keeps what it read for the apply). Every apply of an object that exists carries the
 *   resourceVersion its ownership was checked against, so a stale cache (or a change since the GET)
 *   ends in 409 and one fresh read, never in a write into an object that was not checked.
 * - A refresh whose output is already in place sends nothing (`skipIfCurrent`).
 */
import * as k8s from '@kubernetes/client-node';
import { API_VERSION } from '../api/index.ts';
import { claimedOwnerUids, MERGE_FROM_ANNOTATION, OWNER_UID_ANNOTATION, isProtectedSecretType, writeRight, type SyncOwner, type WriteRight } from '../api/secret-ownership.ts';
import { ControllerError } from './errors.ts';
import { CLUSTER_SYNC_LABEL, clusterFieldManagerFor, FIELD_MANAGER, fieldManagerFor, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
import type { DesiredConfigMap, DesiredSecret } from './pipeline.ts';

export type { SyncOwner };

type CreationPolicy = DesiredSecret['creationPolicy'];

/**
 * The metadata kvsync applies: labels, annotations and the proof of ownership, for Owner the owner
 * reference, for an object kvsync creates under Orphan or Merge the owner-uid annotation.
 */
export function appliedMetadata(
  name: string,
  owner: SyncOwner,
  out: { labels: Record<string, string>; annotations: Record<string, string>; creationPolicy: CreationPolicy },
  createdByUs: boolean,
): k8s.V1ObjectMeta {
  const kind = owner.kind ?? 'KeyVaultSync';
  const labels: Record<string, string> = { ...out.labels, [kind === 'KeyVaultSync' ? SYNC_LABEL : CLUSTER_SYNC_LABEL]: owner.name };
  // managed-by marks what kvsync created; a Secret merged into stays its creator's.
  if (createdByUs) labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
  else delete labels[MANAGED_BY_LABEL];
  const annotations: Record<string, string> = { ...out.annotations };
  delete annotations[OWNER_UID_ANNOTATION];
  delete annotations[MERGE_FROM_ANNOTATION];
  const meta: k8s.V1ObjectMeta = { name, namespace: owner.namespace, labels, annotations };
  if (createdByUs && out.creationPolicy === 'Owner') {
    meta.ownerReferences = [{ apiVersion: API_VERSION, kind, name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }];
  } else if (createdByUs) {
    annotations[OWNER_UID_ANNOTATION] = owner.uid;
  }
  return meta;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

export interface ApplyOptions {
  /**
   * The object's labels, annotations and keys were last applied for this same spec (its generation
   * was synced before): when the object kvsync created already holds exactly what would be applied,
   * nothing is sent. An edited spec is always applied, so keys, labels and annotations it dropped are
   * pruned. Objects merged into (creationPolicy Merge) are always applied.
   */
  skipIfCurrent?: boolean;
}

/** What pruning an output that left the spec did. */
export type PruneOutcome = 'deleted' | 'released' | 'retained' | 'untouched' | 'absent';

type Existing = k8s.V1Secret | k8s.V1ConfigMap;
type Kind = 'Secret' | 'ConfigMap';

interface Checked {
  existing: Existing | undefined;
  createdByUs: boolean;
}

export interface SecretWriterOptions {
  /**
   * The Secret as the informer of kvsync's Secrets holds it, or undefined when it holds none of that
   * name (the Secret is then read by GET: it may exist without kvsync's labels).
   */
  cachedSecret?: ((namespace: string, name: string) => k8s.V1Secret | undefined) | undefined;
}

export class SecretWriter {
  readonly #core: k8s.CoreV1Api;
  readonly #cachedSecret: (namespace: string, name: string) => k8s.V1Secret | undefined;
  /** What `check` read by GET, taken by the apply that follows it (one GET per object and sync). */
  readonly #read = new Map<string, Existing | undefined>();

  constructor(kc: k8s.KubeConfig, opts: SecretWriterOptions = {}) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#cachedSecret = opts.cachedSecret ?? (() => undefined);
  }

  /** Checks every desired object (type, ownership) without writing anything; throws ControllerError. */
  async check(owner: SyncOwner, secrets: readonly DesiredSecret[], configMaps: readonly DesiredConfigMap[]): Promise<void> {
    for (const s of secrets) await this.#checkSecret(owner, s, true);
    for (const c of configMaps) await this.#check('ConfigMap', owner, c, true);
  }

  /**
   * Applies one Secret whole. Returns whether it was created, changed or left as it was (the
   * resourceVersion tells). Throws ControllerError (SecretConflict, SecretProtected, WriteFailed).
   */
  async applySecret(owner: SyncOwner, desired: DesiredSecret, opts: ApplyOptions = {}): Promise<WriteOutcome> {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(desired.data)) data[k] = v.toString('base64');
    return this.#apply('Secret', owner, desired, opts, (checked) => {
      const body: k8s.V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: appliedMetadata(desired.name, owner, desired, checked.createdByUs), data };
      // The type is immutable: set it when kvsync creates the Secret, leave it to its creator under Merge.
      if (checked.createdByUs) body.type = desired.type;
      return body;
    });
  }

  /** As {@link applySecret}, for a ConfigMap (ConfigMapConflict instead of SecretConflict). */
  async applyConfigMap(owner: SyncOwner, desired: DesiredConfigMap, opts: ApplyOptions = {}): Promise<WriteOutcome> {
    return this.#apply('ConfigMap', owner, desired, opts, (checked) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: appliedMetadata(desired.name, owner, desired, checked.createdByUs), data: { ...desired.data } }));
  }

  /**
   * Checks, then applies `bodyOf(checked)` with the checked object's resourceVersion as precondition;
   * a 409 (the object changed since it was read) is checked again against a fresh read, once.
   */
  async #apply(kind: Kind, owner: SyncOwner, desired: DesiredSecret | DesiredConfigMap, opts: ApplyOptions, bodyOf: (checked: Checked) => Existing): Promise<WriteOutcome> {
    let checked = kind === 'Secret' ? await this.#checkSecret(owner, desired as DesiredSecret, false) : await this.#check(kind, owner, desired, false);
    for (let attempt = 0; ; attempt++) {
      const body = bodyOf(checked);
      const { existing } = checked;
      if (opts.skipIfCurrent === true && checked.createdByUs && existing !== undefined && holds(existing, body)) return 'unchanged';
      if (existing?.metadata?.resourceVersion !== undefined) body.metadata = { ...body.metadata, resourceVersion: existing.metadata.resourceVersion };
      try {
        const applied = await this.#patch(kind, owner, desired.name, body);
        return outcome(existing?.metadata?.resourceVersion, applied.metadata?.resourceVersion);
      } catch (err) {
        // Forced applies never conflict on fields: a 409 is the resourceVersion precondition.
        if (attempt > 0 || !(err instanceof k8s.ApiException) || err.code !== 409) throw writeFailed(kind, owner.namespace, desired.name, err);
        const existing = await this.#get(kind, owner.namespace, desired.name);
        checked = { existing, createdByUs: granted(writeRight(kind, desired.name, existing, owner, desired.creationPolicy), desired.name) };
      }
    }
  }

  /**
   * An output that left the spec goes as it would go with its KeyVaultSync: deleted when kvsync created
   * it with an owner reference to this KeyVaultSync (creationPolicy Owner under deletionPolicy Delete);
   * left in place when kvsync created it without one (Orphan, or deletionPolicy Retain); for an object
   * kvsync merged into, only kvsync's keys and labels go (an empty apply by its field manager).
   * Anything not proven to be this KeyVaultSync's is not touched. Throws ControllerError (WriteFailed).
   */
  async prune(owner: SyncOwner, kind: 'Secret' | 'ConfigMap', name: string): Promise<PruneOutcome> {
    const existing = kind === 'Secret' ? await this.#readSecret(owner.namespace, name) : await this.#readConfigMap(owner.namespace, name);
    if (existing === undefined) return 'absent';
    const meta = existing.metadata ?? {};
    const claimed = claimedOwnerUids(meta);
    try {
      if (claimed.length > 0 && claimed.every((uid) => uid === owner.uid)) {
        if (!(meta.ownerReferences ?? []).some((r) => r.uid === owner.uid)) return 'retained';
        // Preconditions: the object read above, not one recreated under the same name since.
        const body = { preconditions: { uid: meta.uid, resourceVersion: meta.resourceVersion } };
        if (kind === 'Secret') await this.#core.deleteNamespacedSecret({ name, namespace: owner.namespace, body });
        else await this.#core.deleteNamespacedConfigMap({ name, namespace: owner.namespace, body });
        return 'deleted';
      }
      if (claimed.length > 0 || meta.annotations?.[MERGE_FROM_ANNOTATION] !== owner.name) return 'untouched';
      await this.#patch(kind, owner, name, { apiVersion: 'v1', kind, metadata: { name, namespace: owner.namespace } });
      return 'released';
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return 'absent';
      throw writeFailed(kind, owner.namespace, name, err);
    }
  }

  /** One forced apply with the KeyVaultSync's own field manager, then the release of a legacy manager's fields. */
  async #patch(kind: Kind, owner: SyncOwner, name: string, body: Existing): Promise<Existing> {
    const manager = owner.kind === 'ClusterKeyVaultSync' ? clusterFieldManagerFor(owner.name) : fieldManagerFor(owner.namespace, owner.name);
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
    const namespace = owner.namespace;
    const patch = (b: Existing, fieldManager: string, force: boolean | undefined): Promise<Existing> =>
      kind === 'Secret' ? this.#core.patchNamespacedSecret({ name, namespace, body: b, fieldManager, force }, opts) : this.#core.patchNamespacedConfigMap({ name, namespace, body: b, fieldManager, force }, opts);
    const applied = await patch(body, manager, true);
    if (!holdsLegacyApply(applied)) return applied;
    return patch({ apiVersion: 'v1', kind, metadata: { name, namespace } }, FIELD_MANAGER, undefined);
  }

  async #checkSecret(owner: SyncOwner, s: DesiredSecret, keep: boolean): Promise<Checked> {
    if (isProtectedSecretType(s.type)) {
      throw new ControllerError('SecretProtected', `Secret ${owner.namespace}/${s.name} would be of type ${s.type}; kvsync never writes service-account token, bootstrap token or Helm release Secrets`, { object: s.name });
    }
    return this.#check('Secret', owner, s, keep);
  }

  /** The object as it is (cache, what `check` read, or a GET) and whether kvsync may write it. */
  async #check(kind: Kind, owner: SyncOwner, desired: DesiredSecret | DesiredConfigMap, keep: boolean): Promise<Checked> {
    const existing = await this.#existing(kind, owner.namespace, desired.name, keep);
    return { existing, createdByUs: granted(writeRight(kind, desired.name, existing, owner, desired.creationPolicy), desired.name) };
  }

  async #existing(kind: Kind, namespace: string, name: string, keep: boolean): Promise<Existing | undefined> {
    const cached = kind === 'Secret' ? this.#cachedSecret(namespace, name) : undefined;
    if (cached !== undefined) return cached;
    const key = `${kind}/${namespace}/${name}`;
    if (!keep && this.#read.has(key)) {
      const read = this.#read.get(key);
      this.#read.delete(key);
      return read;
    }
    const read = await this.#get(kind, namespace, name);
    if (keep) this.#read.set(key, read);
    return read;
  }

  #get(kind: Kind, namespace: string, name: string): Promise<Existing | undefined> {
    return kind === 'Secret' ? this.#readSecret(namespace, name) : this.#readConfigMap(namespace, name);
  }

  async #readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.#core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return undefined;
      throw writeFailed('Secret', namespace, name, err);
    }
  }

  async #readConfigMap(namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined> {
    try {
      return await this.#core.readNamespacedConfigMap({ name, namespace });
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return undefined;
      throw writeFailed('ConfigMap', namespace, name, err);
    }
  }
}

/** Whether the object was created by kvsync for this KeyVaultSync; @throws ControllerError when it may not be written. */
function granted(right: WriteRight, object: string): boolean {
  if (!right.write) throw new ControllerError(right.reason, right.message, { object });
  return right.createdByUs;
}

/**
 * Whether the object still has fields applied by the single `kvsync` manager of earlier versions.
 * Applying an empty object as that manager once releases them: fields the KeyVaultSync's own manager
 * now applies stay, and keys only the old manager held (removed from the spec since) are pruned.
 */
function holdsLegacyApply(obj: Existing): boolean {
  return (obj.metadata?.managedFields ?? []).some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply');
}

/**
 * Whether `existing` already holds everything `applied` would set: the type, exactly its data keys and
 * values, its labels, annotations and owner references, and no fields of the legacy manager.
 */
export function holds(existing: Existing, applied: Existing): boolean {
  const e = existing as k8s.V1Secret;
  const a = applied as k8s.V1Secret;
  if (a.type !== undefined && e.type !== a.type) return false;
  if (!sameRecord(e.data ?? {}, a.data ?? {})) return false;
  if (!includes(e.metadata?.labels, a.metadata?.labels) || !includes(e.metadata?.annotations, a.metadata?.annotations)) return false;
  const refs = e.metadata?.ownerReferences ?? [];
  for (const r of a.metadata?.ownerReferences ?? []) {
    if (!refs.some((x) => x.uid === r.uid && x.kind === r.kind && x.apiVersion === r.apiVersion && x.name === r.name && x.controller === r.controller && x.blockOwnerDeletion === r.blockOwnerDeletion)) return false;
  }
  return !holdsLegacyApply(existing);
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

function includes(have: Readonly<Record<string, string>> | undefined, want: Readonly<Record<string, string>> | undefined): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
}

function outcome(before: string | undefined, after: string | undefined): WriteOutcome {
  if (before === undefined) return 'created';
  return before === after ? 'unchanged' : 'updated';
}

/** The apiserver's status message names fields, never values; the body is not echoed. */
function writeFailed(kind: string, namespace: string, name: string, err: unknown): ControllerError {
  if (err instanceof ControllerError) return err;
  const code = err instanceof k8s.ApiException ? err.code : undefined;
  let detail = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
  if (err instanceof k8s.ApiException) {
    const body = err.body as unknown;
    const parsed = typeof body === 'string' ? safeJson(body) : body;
    const message = (parsed as { message?: unknown } | undefined)?.message;
    if (typeof message === 'string') detail = message;
  }
  return new ControllerError('WriteFailed', `writing ${kind} ${namespace}/${name} failed${code === undefined ? '' : ` (HTTP ${code})`}: ${detail}`, { object: name, cause: err });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

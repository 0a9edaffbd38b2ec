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
 * - Keys that left the spec are pruned by SSA, because we apply the full set we own every time.
 * - The 1 MiB limit was checked when the outputs were rendered (renderOutputs), before any request.
 */
import * as k8s from '@kubernetes/client-node';
import { API_VERSION } from '../api/index.ts';
import { MERGE_FROM_ANNOTATION, OWNER_UID_ANNOTATION, isProtectedSecretType, writeRight, type SyncOwner, type WriteRight } from '../api/secret-ownership.ts';
import { ControllerError } from './errors.ts';
import { FIELD_MANAGER, fieldManagerFor, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
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
  const labels: Record<string, string> = { ...out.labels, [SYNC_LABEL]: owner.name };
  // managed-by marks what kvsync created; a Secret merged into stays its creator's.
  if (createdByUs) labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
  else delete labels[MANAGED_BY_LABEL];
  const annotations: Record<string, string> = { ...out.annotations };
  delete annotations[OWNER_UID_ANNOTATION];
  delete annotations[MERGE_FROM_ANNOTATION];
  const meta: k8s.V1ObjectMeta = { name, namespace: owner.namespace, labels, annotations };
  if (createdByUs && out.creationPolicy === 'Owner') {
    meta.ownerReferences = [{ apiVersion: API_VERSION, kind: 'KeyVaultSync', name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }];
  } else if (createdByUs) {
    annotations[OWNER_UID_ANNOTATION] = owner.uid;
  }
  return meta;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

type Existing = k8s.V1Secret | k8s.V1ConfigMap;

export class SecretWriter {
  readonly #core: k8s.CoreV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
  }

  /** Checks every desired object (type, ownership) without writing anything; throws ControllerError. */
  async check(owner: SyncOwner, secrets: readonly DesiredSecret[], configMaps: readonly DesiredConfigMap[]): Promise<void> {
    for (const s of secrets) await this.#checkSecret(owner, s);
    for (const c of configMaps) await this.#checkConfigMap(owner, c);
  }

  /**
   * Applies one Secret whole. Returns whether it was created, changed or left as it was (the
   * resourceVersion tells). Throws ControllerError (SecretConflict, SecretProtected, WriteFailed).
   */
  async applySecret(owner: SyncOwner, desired: DesiredSecret): Promise<WriteOutcome> {
    const { existing, createdByUs } = await this.#checkSecret(owner, desired);
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(desired.data)) data[k] = v.toString('base64');
    const body: k8s.V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: appliedMetadata(desired.name, owner, desired, createdByUs), data };
    // The type is immutable: set it when kvsync creates the Secret, leave it to its creator under Merge.
    if (createdByUs) body.type = desired.type;
    try {
      const manager = fieldManagerFor(owner.namespace, owner.name);
      const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
      let applied = await this.#core.patchNamespacedSecret({ name: desired.name, namespace: owner.namespace, body, fieldManager: manager, force: true }, opts);
      if (holdsLegacyApply(applied)) {
        applied = await this.#core.patchNamespacedSecret({ name: desired.name, namespace: owner.namespace, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: desired.name, namespace: owner.namespace } }, fieldManager: FIELD_MANAGER }, opts);
      }
      return outcome(existing?.metadata?.resourceVersion, applied.metadata?.resourceVersion);
    } catch (err) {
      throw writeFailed('Secret', owner.namespace, desired.name, err);
    }
  }

  /** As {@link applySecret}, for a ConfigMap (ConfigMapConflict instead of SecretConflict). */
  async applyConfigMap(owner: SyncOwner, desired: DesiredConfigMap): Promise<WriteOutcome> {
    const { existing, createdByUs } = await this.#checkConfigMap(owner, desired);
    const body: k8s.V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: appliedMetadata(desired.name, owner, desired, createdByUs), data: { ...desired.data } };
    try {
      const manager = fieldManagerFor(owner.namespace, owner.name);
      const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
      let applied = await this.#core.patchNamespacedConfigMap({ name: desired.name, namespace: owner.namespace, body, fieldManager: manager, force: true }, opts);
      if (holdsLegacyApply(applied)) {
        applied = await this.#core.patchNamespacedConfigMap({ name: desired.name, namespace: owner.namespace, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: desired.name, namespace: owner.namespace } }, fieldManager: FIELD_MANAGER }, opts);
      }
      return outcome(existing?.metadata?.resourceVersion, applied.metadata?.resourceVersion);
    } catch (err) {
      throw writeFailed('ConfigMap', owner.namespace, desired.name, err);
    }
  }

  async #checkSecret(owner: SyncOwner, s: DesiredSecret): Promise<{ existing: Existing | undefined; createdByUs: boolean }> {
    if (isProtectedSecretType(s.type)) {
      throw new ControllerError('SecretProtected', `Secret ${owner.namespace}/${s.name} would be of type ${s.type}; kvsync never writes service-account token, bootstrap token or Helm release Secrets`, { object: s.name });
    }
    const existing = await this.#readSecret(owner.namespace, s.name);
    return { existing, createdByUs: granted(writeRight('Secret', s.name, existing, owner, s.creationPolicy), s.name) };
  }

  async #checkConfigMap(owner: SyncOwner, c: DesiredConfigMap): Promise<{ existing: Existing | undefined; createdByUs: boolean }> {
    const existing = await this.#readConfigMap(owner.namespace, c.name);
    return { existing, createdByUs: granted(writeRight('ConfigMap', c.name, existing, owner, c.creationPolicy), c.name) };
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

/**
 * Writes the desired Secrets and ConfigMaps of one KeyVaultSync by server-side apply with ONE field
 * manager (`kvsync`), each object whole in one request:
 * - creationPolicy Owner (default): an owner reference to the KeyVaultSync, so the garbage collector
 *   deletes the object with it; Orphan: no owner reference; Merge: our keys are applied into an object
 *   someone else created (their fields stay theirs; no owner reference, no managed-by label).
 * - An object that exists and was not created by kvsync for this KeyVaultSync is never written without
 *   Merge: {@link ControllerError} `SecretConflict`.
 * - Keys that left the spec are pruned by SSA, because we apply the full set we own every time.
 * - The 1 MiB limit is checked before any request.
 */
import * as k8s from '@kubernetes/client-node';
import { API_VERSION } from '../api/index.ts';
import { ControllerError } from './errors.ts';
import { FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
import type { DesiredConfigMap, DesiredSecret } from './pipeline.ts';

/** Kubernetes' limit on the data of a Secret or ConfigMap (etcd's request limit is near). */
export const MAX_DATA_BYTES = 1024 * 1024;

export interface SyncOwner {
  name: string;
  namespace: string;
  uid: string;
}

interface ExistingMeta {
  labels?: Record<string, string> | undefined;
}

/** Size of data as the apiserver counts it: keys plus decoded values. */
export function dataSize(data: Readonly<Record<string, Buffer | string>>): number {
  let total = 0;
  for (const [key, value] of Object.entries(data)) total += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  return total;
}

/**
 * Whether kvsync may write into an existing object for `owner` under `policy`: it may when it
 * created the object for this KeyVaultSync (managed-by + our sync label), or when the policy is Merge.
 */
export function mayWrite(existing: ExistingMeta | undefined, owner: SyncOwner, policy: DesiredSecret['creationPolicy']): boolean {
  if (existing === undefined || policy === 'Merge') return true;
  const labels = existing.labels ?? {};
  return labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && labels[SYNC_LABEL] === owner.name;
}

/** The metadata kvsync applies: labels, annotations and, for Owner, the owner reference. */
export function appliedMetadata(
  name: string,
  owner: SyncOwner,
  out: { labels: Record<string, string>; annotations: Record<string, string>; creationPolicy: DesiredSecret['creationPolicy'] },
  createdByUs: boolean,
): k8s.V1ObjectMeta {
  const labels: Record<string, string> = { ...out.labels, [SYNC_LABEL]: owner.name };
  // managed-by marks what kvsync created; a Secret merged into stays its creator's.
  if (createdByUs) labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
  else delete labels[MANAGED_BY_LABEL];
  const meta: k8s.V1ObjectMeta = { name, namespace: owner.namespace, labels, annotations: { ...out.annotations } };
  if (out.creationPolicy === 'Owner') {
    meta.ownerReferences = [{ apiVersion: API_VERSION, kind: 'KeyVaultSync', name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }];
  }
  return meta;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

export class SecretWriter {
  readonly #core: k8s.CoreV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
  }

  /** Checks every desired object (size, ownership) without writing anything; throws ControllerError. */
  async check(owner: SyncOwner, secrets: readonly DesiredSecret[], configMaps: readonly DesiredConfigMap[]): Promise<void> {
    for (const s of secrets) {
      if (dataSize(s.data) > MAX_DATA_BYTES) {
        throw new ControllerError('SecretTooLarge', `Secret ${s.name} would hold ${dataSize(s.data)} bytes, over the 1 MiB limit`, { object: s.name });
      }
      const existing = await this.#readSecret(owner.namespace, s.name);
      if (!mayWrite(existing?.metadata, owner, s.creationPolicy)) {
        throw new ControllerError(
          'SecretConflict',
          `Secret ${owner.namespace}/${s.name} exists and was not created by kvsync for KeyVaultSync ${owner.name}; set creationPolicy: Merge to write into it`,
          { object: s.name },
        );
      }
    }
    for (const c of configMaps) {
      if (dataSize(c.data) > MAX_DATA_BYTES) {
        throw new ControllerError('SecretTooLarge', `ConfigMap ${c.name} would hold ${dataSize(c.data)} bytes, over the 1 MiB limit`, { object: c.name });
      }
      const existing = await this.#readConfigMap(owner.namespace, c.name);
      if (!mayWrite(existing?.metadata, owner, c.creationPolicy)) {
        throw new ControllerError(
          'SecretConflict',
          `ConfigMap ${owner.namespace}/${c.name} exists and was not created by kvsync for KeyVaultSync ${owner.name}; set creationPolicy: Merge to write into it`,
          { object: c.name },
        );
      }
    }
  }

  /**
   * Applies one Secret whole. Returns whether it was created, changed or left as it was (the
   * resourceVersion tells). Throws ControllerError (SecretConflict, SecretTooLarge, WriteFailed).
   */
  async applySecret(owner: SyncOwner, desired: DesiredSecret): Promise<WriteOutcome> {
    if (dataSize(desired.data) > MAX_DATA_BYTES) {
      throw new ControllerError('SecretTooLarge', `Secret ${desired.name} would hold ${dataSize(desired.data)} bytes, over the 1 MiB limit`, { object: desired.name });
    }
    const existing = await this.#readSecret(owner.namespace, desired.name);
    if (!mayWrite(existing?.metadata, owner, desired.creationPolicy)) {
      throw new ControllerError('SecretConflict', `Secret ${owner.namespace}/${desired.name} exists and was not created by kvsync for KeyVaultSync ${owner.name}; set creationPolicy: Merge to write into it`, { object: desired.name });
    }
    const createdByUs = existing === undefined || existing.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(desired.data)) data[k] = v.toString('base64');
    const body: k8s.V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: appliedMetadata(desired.name, owner, desired, createdByUs), data };
    // The type is immutable: set it when kvsync creates the Secret, leave it to its creator under Merge.
    if (createdByUs) body.type = desired.type;
    try {
      const applied = await this.#core.patchNamespacedSecret(
        { name: desired.name, namespace: owner.namespace, body, fieldManager: FIELD_MANAGER, force: true },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      );
      return outcome(existing?.metadata?.resourceVersion, applied.metadata?.resourceVersion);
    } catch (err) {
      throw writeFailed('Secret', owner.namespace, desired.name, err);
    }
  }

  /** As {@link applySecret}, for a ConfigMap. */
  async applyConfigMap(owner: SyncOwner, desired: DesiredConfigMap): Promise<WriteOutcome> {
    if (dataSize(desired.data) > MAX_DATA_BYTES) {
      throw new ControllerError('SecretTooLarge', `ConfigMap ${desired.name} would hold ${dataSize(desired.data)} bytes, over the 1 MiB limit`, { object: desired.name });
    }
    const existing = await this.#readConfigMap(owner.namespace, desired.name);
    if (!mayWrite(existing?.metadata, owner, desired.creationPolicy)) {
      throw new ControllerError('SecretConflict', `ConfigMap ${owner.namespace}/${desired.name} exists and was not created by kvsync for KeyVaultSync ${owner.name}; set creationPolicy: Merge to write into it`, { object: desired.name });
    }
    const createdByUs = existing === undefined || existing.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
    const body: k8s.V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: appliedMetadata(desired.name, owner, desired, createdByUs), data: { ...desired.data } };
    try {
      const applied = await this.#core.patchNamespacedConfigMap(
        { name: desired.name, namespace: owner.namespace, body, fieldManager: FIELD_MANAGER, force: true },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      );
      return outcome(existing?.metadata?.resourceVersion, applied.metadata?.resourceVersion);
    } catch (err) {
      throw writeFailed('ConfigMap', owner.namespace, desired.name, err);
    }
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

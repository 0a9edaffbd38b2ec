/**
 * Who may write a Secret (or ConfigMap) a KeyVaultSync names: the proof of ownership that the
 * controller checks before writing, the webhook before pointing a pod at the Secret, and the chart's
 * admission policy (charts/kvsync/templates/admissionpolicies.yaml) at the apiserver.
 *
 * Ownership is the KeyVaultSync's UID, in an owner reference (creationPolicy Owner) or in the
 * `kvsync.dev/owner-uid` annotation (Orphan, or Merge creating the object); labels prove nothing,
 * because anyone who may create a Secret can copy them. Merge into an object someone else created
 * needs that owner's consent, `kvsync.dev/merge-from: <keyvaultsync>`. Token and Helm release
 * Secrets are never written.
 */
import type { V1OwnerReference } from '@kubernetes/client-node';
import { GROUP } from './crd.ts';
import type { CreationPolicy } from './keyvaultsync-schema.ts';
import { isProtectedSecretType } from './secret-types.ts';

/**
 * The UID of the KeyVaultSync that created the object, on objects created without an owner reference
 * (`creationPolicy: Orphan`, or `Merge` when the object did not exist).
 */
export const OWNER_UID_ANNOTATION = 'kvsync.dev/owner-uid';
/**
 * Set by the owner of an existing Secret or ConfigMap to the name of the one KeyVaultSync (same
 * namespace) that may write into it with `creationPolicy: Merge`.
 */
export const MERGE_FROM_ANNOTATION = 'kvsync.dev/merge-from';

export { PROTECTED_SECRET_TYPES, isProtectedSecretType } from './secret-types.ts';

/** The kinds whose UID proves ownership of a Secret kvsync wrote. */
export const OWNER_KINDS = ['KeyVaultSync', 'ClusterKeyVaultSync'] as const;

export interface SyncOwner {
  name: string;
  /** The namespace written into: the KeyVaultSync's own, or one a ClusterKeyVaultSync selects. */
  namespace: string;
  uid: string;
  /** Default KeyVaultSync. */
  kind?: (typeof OWNER_KINDS)[number] | undefined;
}

interface ExistingMeta {
  /** Read by nothing here: labels prove nothing. */
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  ownerReferences?: V1OwnerReference[] | undefined;
}

/** Why an object may not be written. */
export type WriteRefusalReason = 'SecretConflict' | 'ConfigMapConflict' | 'SecretProtected';

/** What kvsync may do with an object of the target name. */
export type WriteRight = { write: true; createdByUs: boolean } | { write: false; reason: WriteRefusalReason; message: string };

/**
 * The KeyVaultSync (or ClusterKeyVaultSync) UIDs an object names as its creator: their owner
 * references and the owner-uid annotation. UIDs are unique across kinds, so one list serves both.
 */
export function claimedOwnerUids(meta: ExistingMeta): string[] {
  const refs = (meta.ownerReferences ?? []).filter((r) => (OWNER_KINDS as readonly string[]).includes(r.kind) && r.apiVersion.startsWith(`${GROUP}/`)).map((r) => r.uid);
  const annotated = meta.annotations?.[OWNER_UID_ANNOTATION];
  return annotated === undefined ? refs : [...refs, annotated];
}

/**
 * Whether kvsync may write the object `kind` `name` for `owner` under `policy`, given what exists:
 * nothing (create it), an object created for this KeyVaultSync (its UID), or under Merge an object
 * whose owner named this KeyVaultSync in `kvsync.dev/merge-from`. Labels prove nothing.
 */
export function writeRight(kind: 'Secret' | 'ConfigMap', name: string, existing: { metadata?: ExistingMeta | undefined; type?: string | undefined } | undefined, owner: SyncOwner, policy: CreationPolicy): WriteRight {
  const what = `${kind} ${owner.namespace}/${name}`;
  const conflict: WriteRefusalReason = kind === 'Secret' ? 'SecretConflict' : 'ConfigMapConflict';
  if (existing?.type !== undefined && isProtectedSecretType(existing.type)) {
    return { write: false, reason: 'SecretProtected', message: `${what} is of type ${existing.type}; kvsync never writes service-account token, bootstrap token or Helm release Secrets` };
  }
  if (existing === undefined) return { write: true, createdByUs: true };
  const meta = existing.metadata ?? {};
  const claimed = claimedOwnerUids(meta);
  if (claimed.length > 0 && claimed.every((uid) => uid === owner.uid)) return { write: true, createdByUs: true };
  if (claimed.length > 0) {
    return { write: false, reason: conflict, message: `${what} belongs to another KeyVaultSync; kvsync never writes into another KeyVaultSync's ${kind}, not even with creationPolicy: Merge` };
  }
  const consent = meta.annotations?.[MERGE_FROM_ANNOTATION];
  if (policy === 'Merge') {
    if (consent === owner.name) return { write: true, createdByUs: false };
    return { write: false, reason: conflict, message: `${what} exists and was not created by kvsync; to let KeyVaultSync ${owner.name} merge into it, its owner annotates it ${MERGE_FROM_ANNOTATION}=${owner.name}` };
  }
  return { write: false, reason: conflict, message: `${what} exists and was not created by kvsync for KeyVaultSync ${owner.name}; rename the output, delete the ${kind}, or set creationPolicy: Merge and annotate it ${MERGE_FROM_ANNOTATION}=${owner.name}` };
}

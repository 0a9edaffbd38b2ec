/** Labels and annotations kvsync puts on, and reads from, the objects it manages. */
import { createHash } from 'node:crypto';

/** The field manager of workload rollouts, and of Secrets written before managers were per KeyVaultSync. */
export const FIELD_MANAGER = 'kvsync';
export { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/labels.ts';
/** Names the KeyVaultSync (in the same namespace) that writes the object. A hint for selectors, never proof. */
export const SYNC_LABEL = 'kvsync.dev/keyvaultsync';
/** Names the ClusterKeyVaultSync that writes the object. A hint for selectors, never proof. */
export const CLUSTER_SYNC_LABEL = 'kvsync.dev/clusterkeyvaultsync';
/** Any new value triggers an immediate refresh of a KeyVaultSync. */
export const FORCE_SYNC_ANNOTATION = 'kvsync.dev/force-sync';
/** Kubernetes' limit on a field manager's length. */
const MAX_FIELD_MANAGER = 128;

/**
 * The field manager of one KeyVaultSync's Secrets and ConfigMaps, `kvsync/<namespace>/<name>`, so that
 * two KeyVaultSyncs never prune or take over each other's fields. Names too long for the 128-character
 * limit keep a prefix and end in a hash of the full name.
 */
export function fieldManagerFor(namespace: string, name: string): string {
  return boundedManager(`${FIELD_MANAGER}/${namespace}/${name}`, `${namespace}/${name}`);
}

/**
 * The field manager of one ClusterKeyVaultSync's Secrets in every namespace, `kvsync-cluster/<name>`:
 * never a KeyVaultSync's, whose managers all start with `kvsync/`.
 */
export function clusterFieldManagerFor(name: string): string {
  return boundedManager(`${FIELD_MANAGER}-cluster/${name}`, `cluster/${name}`);
}

function boundedManager(full: string, hashed: string): string {
  if (full.length <= MAX_FIELD_MANAGER) return full;
  const hash = createHash('sha256').update(hashed).digest('hex').slice(0, 16);
  return `${full.slice(0, MAX_FIELD_MANAGER - hash.length - 1)}-${hash}`;
}

/** Labels and annotations kvsync puts on, and reads from, the objects it manages. */
export const FIELD_MANAGER = 'kvsync';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'kvsync';
/** Names the KeyVaultSync (in the same namespace) that writes the object. */
export const SYNC_LABEL = 'kvsync.dev/keyvaultsync';
/** Any new value triggers an immediate refresh of a KeyVaultSync. */
export const FORCE_SYNC_ANNOTATION = 'kvsync.dev/force-sync';

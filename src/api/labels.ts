/** The label kvsync puts on the Secrets and ConfigMaps it creates (and selects them by). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'kvsync';

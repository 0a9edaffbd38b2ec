/**
 * The user-visible names of the pod webhook (docs/pods.md): the opt-in label, the annotations
 * a pod carries, and the names of what the webhook adds. Fixed by the design contract.
 */

/** Namespace or pod label that opts into the webhook. */
export const INJECT_LABEL = 'kvsync.dev/inject';
export const INJECT_ENABLED = 'enabled';

/** `<keyvaultsync>`: adds an `envFrom` for every Secret that KeyVaultSync manages. */
export const ENV_FROM_ANNOTATION = 'kvsync.dev/env-from';
/** `<keyvaultsync>[,<keyvaultsync>]`: adds the mount sidecar. */
export const MOUNT_ANNOTATION = 'kvsync.dev/mount';
/** Where the files appear in every app container. */
export const MOUNT_PATH_ANNOTATION = 'kvsync.dev/mount-path';
export const DEFAULT_MOUNT_PATH = '/mnt/secrets-store';

/** Env value prefix: `kvsync:<keyvaultsync>/<alias>`. */
export const ENV_REF_PREFIX = 'kvsync:';
/** akv2k8s env injector form: `<name>@azurekeyvault[?key]`. */
export const AKV2K8S_SUFFIX = '@azurekeyvault';

/** What the webhook adds to a pod (stable names make re-invocation idempotent). */
export const SIDECAR_NAME = 'kvsync-mount';
export const SECRETS_VOLUME = 'kvsync-secrets-store';
export const TOKEN_VOLUME = 'kvsync-azure-identity-token';
export const TOKEN_DIR = '/var/run/secrets/azure/tokens';
export const TOKEN_FILE = 'azure-identity-token';
export const TOKEN_AUDIENCE = 'api://AzureADTokenExchange';

/** ServiceAccount annotations of Azure Workload Identity. */
export const SA_CLIENT_ID_ANNOTATION = 'azure.workload.identity/client-id';
export const SA_TENANT_ID_ANNOTATION = 'azure.workload.identity/tenant-id';

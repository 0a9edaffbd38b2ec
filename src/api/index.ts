/** Public surface of the API layer: schemas, parsing, the resolved types and the CRD builders. */
export { parseKeyVaultSync, parseKeyVaultIdentity } from './parse.ts';
export { CLUSTER_KIND, parseClusterKeyVaultSync } from './parse-cluster.ts';
export type { ResolvedClusterKeyVaultSync } from './parse-cluster.ts';
export type { ParseResult, ResolvedKeyVaultIdentity } from './parse.ts';
export type * from './resolved.ts';
export { InvalidSpecError } from './errors.ts';
export type { SpecIssue } from './errors.ts';
export { API_VERSION, GROUP, VERSION, keyVaultSyncCrd, keyVaultIdentityCrd, clusterKeyVaultSyncCrd, allCrds } from './crd.ts';
export { KeyVaultSyncSpecSchema, KeyVaultSyncStatusSchema } from './keyvaultsync-schema.ts';
export type { KeyVaultSyncSpec, KeyVaultSyncStatus } from './keyvaultsync-schema.ts';
export { KeyVaultIdentitySpecSchema } from './keyvaultidentity-schema.ts';
export type { KeyVaultIdentitySpec, IdentityType } from './keyvaultidentity-schema.ts';
export { parseCloudName, vaultDnsSuffix, AUTHORITY_HOSTS, CLOUD_NAMES } from './cloud.ts';
export type { CloudName } from './cloud.ts';
export { parseGoDuration } from './duration.ts';
export { grantsNamespace, grantsVault, selectorMatches, sharedIdentityDenial } from './identity-grant.ts';
export type { SharedIdentityRequest } from './identity-grant.ts';
export { AZURE_VAULT_HOSTS_ONLY, canonicalVault, canonicalVaultUrl, KEY_VAULT_DNS_SUFFIXES, parseVaultHostPatterns, vaultHostAllowed } from './vault-url.ts';
export type { VaultHostPolicy } from './vault-url.ts';
// installCrds lives in ./install.ts (imported directly, so parsing does not load the Kubernetes client).

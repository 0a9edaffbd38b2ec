/**
 * Azure clouds a vault can live in, by the names the CSI provider accepts in `cloudName`, the DNS
 * suffix of their Key Vault endpoints and their Entra authority host. Anything else (Azure Stack, the local emulator) is reached
 * with `spec.vault.url`.
 */

export const CLOUD_NAMES = ['AzurePublicCloud', 'AzureUSGovernmentCloud', 'AzureChinaCloud'] as const;
export type CloudName = (typeof CLOUD_NAMES)[number];

const VAULT_DNS_SUFFIX: Record<CloudName, string> = {
  AzurePublicCloud: 'vault.azure.net',
  AzureUSGovernmentCloud: 'vault.usgovcloudapi.net',
  AzureChinaCloud: 'vault.azure.cn',
};

/** Entra authority host of each cloud, without a trailing slash (the form `AZURE_AUTHORITY_HOST` is read into). */
export const AUTHORITY_HOSTS: Readonly<Record<CloudName, string>> = {
  AzurePublicCloud: 'https://login.microsoftonline.com',
  AzureUSGovernmentCloud: 'https://login.microsoftonline.us',
  AzureChinaCloud: 'https://login.chinacloudapi.cn',
};

/** The Key Vault DNS suffix of a cloud, e.g. `vault.azure.net`. */
export function vaultDnsSuffix(cloud: CloudName): string {
  return VAULT_DNS_SUFFIX[cloud];
}

/**
 * The cloud names the CSI provider accepts, upper-cased: it resolves `cloudName` with go-autorest's
 * `azure.EnvironmentFromName`, which compares upper-cased names against this table.
 */
const GO_AUTOREST_CLOUDS: Readonly<Record<string, CloudName>> = {
  AZURECLOUD: 'AzurePublicCloud',
  AZUREPUBLICCLOUD: 'AzurePublicCloud',
  AZUREUSGOVERNMENT: 'AzureUSGovernmentCloud',
  AZUREUSGOVERNMENTCLOUD: 'AzureUSGovernmentCloud',
  AZURECHINACLOUD: 'AzureChinaCloud',
};

/**
 * Reads a cloud name the way the CSI provider does (go-autorest's names, case-insensitive, trimmed;
 * empty means public cloud). Returns `undefined` for a name kvsync cannot resolve to a cloud; then
 * {@link cloudNameProblem} says why and what to write instead.
 */
export function parseCloudName(text: string): CloudName | undefined {
  const upper = text.trim().toUpperCase();
  if (upper === '') return 'AzurePublicCloud';
  return GO_AUTOREST_CLOUDS[upper];
}

/** Why a cloud name that {@link parseCloudName} refused cannot be used, and what to set instead. */
export function cloudNameProblem(text: string): string {
  const upper = text.trim().toUpperCase();
  if (upper === 'AZUREGERMANCLOUD') {
    return `"${text}" is Azure Germany, which closed in October 2021 (its vault hosts, *.vault.microsoftazure.de, no longer answer); set cloudName to the cloud the vault moved to (AzurePublicCloud), or spec.vault.url`;
  }
  if (upper === 'AZURESTACKCLOUD') {
    return `"${text}" is Azure Stack Hub, whose endpoints the CSI provider read from cloudEnvFileName; kvsync needs the vault's URL: set spec.vault.url (and allow its host with the operator flag --allowed-vault-hosts)`;
  }
  return `"${text}" is not an Azure cloud name (the provider accepts AzurePublicCloud or AzureCloud, AzureUSGovernment or AzureUSGovernmentCloud, AzureChinaCloud, in any case); correct it, or set spec.vault.url`;
}

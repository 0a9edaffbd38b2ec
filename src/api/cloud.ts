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
 * Reads a cloud name the way the CSI provider does (case-insensitive; empty means public cloud).
 * Returns `undefined` for a name kvsync does not know.
 */
export function parseCloudName(text: string): CloudName | undefined {
  if (text.trim() === '') return 'AzurePublicCloud';
  const lower = text.trim().toLowerCase();
  return CLOUD_NAMES.find((c) => c.toLowerCase() === lower);
}

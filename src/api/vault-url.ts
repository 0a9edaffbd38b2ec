/**
 * A vault is its canonical URL: `https://host[:port]` with a lower-case host, no user info, path, query
 * or fragment, and no default port. Every decision about a vault (the KeyVaultIdentity grant, the
 * fetch, cache and change-detector keys, the webhook's decision, the mount sidecar) is made on this
 * one string, built by {@link canonicalVault} from whatever the spec gives (`vault.name`, `vault.url`,
 * `vault.cloudName`, the CSI `keyvaultName`/`cloudName`) and the operator's {@link VaultHostPolicy}.
 *
 * The policy also decides which hosts kvsync may contact at all. By default only Key Vault hosts of
 * the Azure clouds (`<name>.vault.azure.net`, …, on port 443) and the vaults an emulator's endpoints
 * file lists; anything else (Azure Stack Hub, private DNS names) only when the operator lists a host
 * pattern (`--allowed-vault-hosts`). A tenant can therefore never make kvsync send a request, with a
 * token attached, to a host of their choosing.
 */
import { CLOUD_NAMES, vaultDnsSuffix } from './cloud.ts';
import type { CloudName } from './cloud.ts';

/** Which vault hosts kvsync may contact, and where an emulator serves vaults. */
export interface VaultHostPolicy {
  /** Vault name → URL of each vault an emulator serves (`--azure-endpoints`): `https://<name>.vault.azure.net:PORT`. */
  vaultUrls: Readonly<Record<string, string>>;
  /** Host patterns allowed besides Azure's Key Vault hosts (`--allowed-vault-hosts`), see {@link parseVaultHostPatterns}. */
  allowedVaultHosts: readonly string[];
}

/** Azure's Key Vault hosts only: the default of every command. */
export const AZURE_VAULT_HOSTS_ONLY: VaultHostPolicy = { vaultUrls: {}, allowedVaultHosts: [] };

/** The Key Vault DNS suffixes of the Azure clouds (Azure Germany's is kept for old specs). */
export const KEY_VAULT_DNS_SUFFIXES: readonly string[] = [...CLOUD_NAMES.map(vaultDnsSuffix), 'vault.microsoftazure.de'];

/**
 * What the CRD schema accepts as a vault URL: `https://`, a DNS host name, an optional port, an optional
 * `/`. Stricter than a URL (no user info, percent escapes, IP literals, path or query), so that a
 * malformed URL is refused by the apiserver and not later by the controller.
 */
export const VAULT_URL_PATTERN = '^https://[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(:[0-9]{1,5})?/?$';

/** A Key Vault name (3-24 letters, digits and hyphens, starting with a letter). */
export const VAULT_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;

export type VaultUrlResult = { ok: true; url: string } | { ok: false; message: string };

/**
 * The canonical form of a URL (without the host allow-list): `https://host[:port]`.
 * Refuses what is not an https URL of a host alone: user info, a path other than `/`, a query, a
 * fragment, an empty host.
 */
export function canonicalUrl(text: string): VaultUrlResult {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { ok: false, message: 'is not a URL' };
  }
  if (u.protocol !== 'https:') return { ok: false, message: 'must be an https:// URL' };
  if (u.username !== '' || u.password !== '') return { ok: false, message: 'must not carry user info (user@host)' };
  if (u.pathname !== '/' && u.pathname !== '') return { ok: false, message: 'must be the vault host alone, without a path' };
  if (u.search !== '' || u.hash !== '' || text.includes('?') || text.includes('#')) return { ok: false, message: 'must not have a query or fragment' };
  if (u.hostname === '') return { ok: false, message: 'has no host' };
  // WHATWG URL already lower-cases the host, decodes and IDNA-encodes it, and drops the default port.
  return { ok: true, url: `https://${u.host}` };
}

function cloudOfSuffix(hostname: string): { cloud: CloudName | undefined; label: string } | undefined {
  for (const suffix of KEY_VAULT_DNS_SUFFIXES) {
    if (!hostname.endsWith(`.${suffix}`)) continue;
    const label = hostname.slice(0, -suffix.length - 1);
    return { cloud: CLOUD_NAMES.find((c) => vaultDnsSuffix(c) === suffix), label };
  }
  return undefined;
}

/** Whether `hostPort` (`host` or `host:port`) is a Key Vault host of an Azure cloud on port 443. */
function isAzureVaultHost(hostPort: string): boolean {
  const found = cloudOfSuffix(hostPort);
  return found !== undefined && VAULT_NAME_PATTERN.test(found.label);
}

/**
 * Checks the `--allowed-vault-hosts` patterns: each is `host` or `*.domain`, optionally with `:port`
 * (without one, only port 443 matches).
 * @returns the patterns lower-cased, or the first bad one with why.
 */
export function parseVaultHostPatterns(list: readonly string[]): { ok: true; patterns: string[] } | { ok: false; message: string } {
  const out: string[] = [];
  const label = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
  const shape = new RegExp(`^(\\*\\.)?${label}(\\.${label})*(:[0-9]{1,5})?$`);
  for (const raw of list) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (!shape.test(p)) return { ok: false, message: `"${raw}" is not a host pattern (host, *.domain, optionally :port)` };
    const port = p.includes(':') ? Number(p.split(':')[1]) : 443;
    if (port < 1 || port > 65535) return { ok: false, message: `"${raw}" has an invalid port` };
    if (p.startsWith('*.') && !p.slice(2).includes('.')) return { ok: false, message: `"${raw}" is too broad: name at least two labels after "*."` };
    out.push(p.endsWith(':443') ? p.slice(0, -4) : p);
  }
  return { ok: true, patterns: out };
}

/** Whether a `host[:port]` matches one pattern (a `*.` pattern matches any depth below the domain). */
function matchesPattern(hostPort: string, pattern: string): boolean {
  const [host = '', port = ''] = hostPort.split(':');
  const [pHost = '', pPort = ''] = pattern.split(':');
  if (port !== pPort) return false;
  return pHost.startsWith('*.') ? host.endsWith(pHost.slice(1)) && host.length > pHost.length - 1 : host === pHost;
}

/** The emulator's URL of a vault addressed by its public URL (no port), when the policy has one. */
function emulated(url: string, policy: VaultHostPolicy): string | undefined {
  const host = url.slice('https://'.length);
  if (host.includes(':')) return undefined;
  const name = host.split('.')[0] ?? '';
  const target = policy.vaultUrls[name];
  if (target === undefined) return undefined;
  const canonical = canonicalUrl(target);
  return canonical.ok && canonical.url.slice('https://'.length).split(':')[0] === host ? canonical.url : undefined;
}

/**
 * Whether kvsync may contact the vault at a canonical URL: an Azure Key Vault host on port 443, a vault
 * of the emulator's endpoints file, or a host matching an operator pattern.
 */
export function vaultHostAllowed(url: string, policy: VaultHostPolicy): boolean {
  const hostPort = url.slice('https://'.length);
  if (isAzureVaultHost(hostPort)) return true;
  if (Object.values(policy.vaultUrls).some((v) => { const c = canonicalUrl(v); return c.ok && c.url === url; })) return true;
  return policy.allowedVaultHosts.some((p) => matchesPattern(hostPort, p));
}

/**
 * The canonical URL of a vault given by URL (a spec's `vault.url`, a KeyVaultIdentity's allowedVaults
 * entry): canonical form, then the emulator's port for a public vault URL it serves. No allow-list.
 */
export function canonicalVaultUrl(text: string, policy: VaultHostPolicy): VaultUrlResult {
  const c = canonicalUrl(text);
  if (!c.ok) return c;
  return { ok: true, url: emulated(c.url, policy) ?? c.url };
}

/** The canonical URL of a vault given by name in a cloud: `https://<name>.<suffix>` (emulator port applied). */
export function vaultUrlOfName(name: string, cloud: CloudName, policy: VaultHostPolicy): string {
  const url = `https://${name.toLowerCase()}.${vaultDnsSuffix(cloud)}`;
  return emulated(url, policy) ?? url;
}

export interface VaultInput {
  /** `vault.name` or the CSI `keyvaultName`. */
  name: string | undefined;
  url: string | undefined;
  /** `vault.cloudName` or the CSI `cloudName`, when given. */
  cloudName: CloudName | undefined;
}

export type CanonicalVault =
  | { ok: true; url: string; cloudName: CloudName }
  /** `field` says which input is wrong: `name`, `url` or `cloudName`. */
  | { ok: false; field: 'name' | 'url' | 'cloudName'; message: string };

/**
 * The one function from a spec's vault fields to the vault: its canonical URL and its cloud.
 * - name alone: `https://<name>.<the cloud's suffix>`;
 * - url (with or without name): the URL's canonical form; a name given too must be the first label
 *   of its host (so `name: a` with the URL of vault `b` is refused, not resolved either way); a URL on
 *   an Azure cloud's suffix decides the cloud, and a different cloudName is refused;
 * - then the emulator's port (a public vault URL the endpoints file serves) and the host allow-list.
 */
export function canonicalVault(input: VaultInput, policy: VaultHostPolicy): CanonicalVault {
  if (input.name !== undefined && !VAULT_NAME_PATTERN.test(input.name)) {
    return { ok: false, field: 'name', message: 'must be a Key Vault name (3-24 letters, digits and hyphens)' };
  }
  let url: string;
  let cloudName: CloudName = input.cloudName ?? 'AzurePublicCloud';
  if (input.url !== undefined) {
    const c = canonicalVaultUrl(input.url, policy);
    if (!c.ok) return { ok: false, field: 'url', message: c.message };
    url = c.url;
    const hostname = url.slice('https://'.length).split(':')[0] ?? '';
    if (input.name !== undefined && hostname.split('.')[0] !== input.name.toLowerCase()) {
      return { ok: false, field: 'url', message: `names vault host "${hostname}", not the vault "${input.name}" that name gives; set one of them, or make them agree` };
    }
    const azure = cloudOfSuffix(hostname);
    if (azure?.cloud !== undefined) {
      if (input.cloudName !== undefined && input.cloudName !== azure.cloud) {
        return { ok: false, field: 'cloudName', message: `is ${input.cloudName}, but the URL's host "${hostname}" is a vault of ${azure.cloud}` };
      }
      cloudName = azure.cloud;
    }
  } else if (input.name !== undefined) {
    url = vaultUrlOfName(input.name, cloudName, policy);
  } else {
    return { ok: false, field: 'name', message: 'no vault: set spec.vault.name or spec.vault.url' };
  }
  if (!vaultHostAllowed(url, policy)) {
    return {
      ok: false,
      field: 'url',
      message: `host "${url.slice('https://'.length)}" is not an Azure Key Vault host (${KEY_VAULT_DNS_SUFFIXES.map((s) => `*.${s}`).join(', ')}); the operator must allow it with --allowed-vault-hosts`,
    };
  }
  return { ok: true, url, cloudName };
}

/** The help line every command that reaches vaults prints for `--allowed-vault-hosts`. */
export const ALLOWED_VAULT_HOSTS_USAGE = `  --allowed-vault-hosts LIST
                           comma-separated vault host patterns allowed besides Azure's Key Vault hosts
                           (*.vault.azure.net, *.vault.azure.cn, *.vault.usgovcloudapi.net,
                           *.vault.microsoftazure.de), e.g. '*.vault.contoso.local' (Azure Stack Hub,
                           private DNS); a pattern without :port allows port 443 only`;

/**
 * Reads the `--allowed-vault-hosts` flag (comma-separated patterns; absent = none).
 * @throws RangeError naming the bad pattern
 */
export function allowedVaultHostsFlag(value: string | undefined): string[] {
  if (value === undefined) return [];
  const parsed = parseVaultHostPatterns(value.split(','));
  if (!parsed.ok) throw new RangeError(`--allowed-vault-hosts: ${parsed.message}`);
  return parsed.patterns;
}

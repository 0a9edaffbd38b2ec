import { describe, expect, it } from 'vitest';
import { allowedVaultHostsFlag, AZURE_VAULT_HOSTS_ONLY, canonicalUrl, canonicalVault, parseVaultHostPatterns, vaultHostAllowed } from './vault-url.ts';
import type { VaultHostPolicy } from './vault-url.ts';

const azure = AZURE_VAULT_HOSTS_ONLY;
const emulator: VaultHostPolicy = { vaultUrls: { devkv: 'https://devkv.vault.azure.net:8443/' }, allowedVaultHosts: [] };
const stack: VaultHostPolicy = { vaultUrls: {}, allowedVaultHosts: ['*.vault.contoso.local', 'kv.internal.example:8443'] };

describe('canonicalUrl', () => {
  it('lower-cases the host, drops the default port, a trailing slash and percent-escapes in the host', () => {
    expect(canonicalUrl('https://GebaKV.Vault.Azure.NET:443/')).toEqual({ ok: true, url: 'https://gebakv.vault.azure.net' });
    expect(canonicalUrl('https://gebakv%2evault.azure.net')).toEqual({ ok: true, url: 'https://gebakv.vault.azure.net' });
    expect(canonicalUrl('https://gebakv.vault.azure.net:8443')).toEqual({ ok: true, url: 'https://gebakv.vault.azure.net:8443' });
  });

  it('refuses what is not an https URL of a host alone', () => {
    for (const bad of ['https://%', 'http://gebakv.vault.azure.net', 'https://a@payrollkv.vault.azure.net', 'https://gebakv.vault.azure.net/secrets', 'https://gebakv.vault.azure.net?x=1', 'https://gebakv.vault.azure.net#f', 'not a url', 'https://payrollkv.vault.azure.net\\@gebakv.vault.azure.net']) {
      expect(canonicalUrl(bad).ok, bad).toBe(false);
    }
  });
});

describe('canonicalVault', () => {
  it('turns every way of naming one vault into one URL', () => {
    const forms = [
      { name: 'gebakv', url: undefined, cloudName: undefined },
      { name: 'GebaKV', url: undefined, cloudName: 'AzurePublicCloud' as const },
      { name: undefined, url: 'https://gebakv.vault.azure.net/', cloudName: undefined },
      { name: 'gebakv', url: 'https://GEBAKV.vault.azure.net:443', cloudName: undefined },
    ];
    for (const f of forms) expect(canonicalVault(f, azure)).toEqual({ ok: true, url: 'https://gebakv.vault.azure.net', cloudName: 'AzurePublicCloud' });
  });

  it('refuses a name and a URL of different vaults (the grant would be checked on one, the fetch sent to the other)', () => {
    const r = canonicalVault({ name: 'tenantakv', url: 'https://payrollkv.vault.azure.net', cloudName: undefined }, azure);
    expect(r).toMatchObject({ ok: false, field: 'url' });
  });

  it('takes the cloud from an Azure URL and refuses a cloudName that contradicts it', () => {
    expect(canonicalVault({ name: undefined, url: 'https://kv1.vault.azure.cn', cloudName: undefined }, azure)).toMatchObject({ ok: true, cloudName: 'AzureChinaCloud' });
    expect(canonicalVault({ name: undefined, url: 'https://kv1.vault.azure.cn', cloudName: 'AzurePublicCloud' }, azure)).toMatchObject({ ok: false, field: 'cloudName' });
    expect(canonicalVault({ name: 'kv1', url: undefined, cloudName: 'AzureUSGovernmentCloud' }, azure)).toMatchObject({ ok: true, url: 'https://kv1.vault.usgovcloudapi.net' });
  });

  it("applies the emulator's port to a vault it serves, by name or by public URL", () => {
    for (const f of [{ name: 'devkv', url: undefined }, { name: undefined, url: 'https://devkv.vault.azure.net' }, { name: 'devkv', url: 'https://devkv.vault.azure.net:8443' }]) {
      expect(canonicalVault({ ...f, cloudName: undefined }, emulator)).toMatchObject({ ok: true, url: 'https://devkv.vault.azure.net:8443' });
    }
    expect(canonicalVault({ name: 'otherkv', url: undefined, cloudName: undefined }, emulator)).toMatchObject({ ok: true, url: 'https://otherkv.vault.azure.net' });
  });

  it('allows only Azure Key Vault hosts on 443 by default; other hosts need a pattern', () => {
    for (const url of ['https://kv.vault.contoso.local', 'https://169.254.169.254', 'https://localhost:6443', 'https://devkv.vault.azure.net:8443', 'https://a.b.vault.azure.net', 'https://gebakv.vault.azure.net.', 'https://vault.azure.net']) {
      expect(canonicalVault({ name: undefined, url, cloudName: undefined }, azure), url).toMatchObject({ ok: false, field: 'url' });
    }
    expect(canonicalVault({ name: undefined, url: 'https://kv.vault.contoso.local', cloudName: undefined }, stack)).toMatchObject({ ok: true, url: 'https://kv.vault.contoso.local' });
    expect(canonicalVault({ name: undefined, url: 'https://kv.vault.contoso.local:8443', cloudName: undefined }, stack)).toMatchObject({ ok: false });
    expect(canonicalVault({ name: undefined, url: 'https://kv.internal.example:8443', cloudName: undefined }, stack)).toMatchObject({ ok: true });
    expect(canonicalVault({ name: undefined, url: 'https://vault.contoso.local', cloudName: undefined }, stack)).toMatchObject({ ok: false });
  });
});

describe('vault host patterns', () => {
  it('accepts hosts and *.domain with an optional port, and refuses the rest', () => {
    expect(parseVaultHostPatterns(['*.Vault.Contoso.Local', 'kv.example:443', 'kv.example:8443'])).toEqual({ ok: true, patterns: ['*.vault.contoso.local', 'kv.example', 'kv.example:8443'] });
    for (const bad of ['*', '*.local', 'https://kv.example', 'kv.*.example', 'kv.example/x', 'kv.example:99999']) expect(parseVaultHostPatterns([bad]).ok, bad).toBe(false);
  });

  it('reads the flag and names a bad pattern', () => {
    expect(allowedVaultHostsFlag(undefined)).toEqual([]);
    expect(allowedVaultHostsFlag('*.vault.contoso.local, kv.example')).toEqual(['*.vault.contoso.local', 'kv.example']);
    expect(() => allowedVaultHostsFlag('*')).toThrow(/--allowed-vault-hosts: "\*"/);
  });

  it('allows exactly the hosts listed', () => {
    expect(vaultHostAllowed('https://a.vault.contoso.local', stack)).toBe(true);
    expect(vaultHostAllowed('https://a.b.vault.contoso.local', stack)).toBe(true);
    expect(vaultHostAllowed('https://vault.contoso.local.evil.example', stack)).toBe(false);
    expect(vaultHostAllowed('https://devkv.vault.azure.net:8443', emulator)).toBe(true);
    expect(vaultHostAllowed('https://devkv.vault.azure.net:8444', emulator)).toBe(false);
  });
});

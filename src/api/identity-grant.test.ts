import { describe, expect, it } from 'vitest';
import { grantsNamespace, grantsVault, selectorMatches, sharedIdentityDenial } from './identity-grant.ts';
import { AZURE_VAULT_HOSTS_ONLY } from './vault-url.ts';
import type { KeyVaultIdentitySpec } from './keyvaultidentity-schema.ts';
import { CLIENT_ID, TENANT } from './testing/fixtures.ts';

function identity(allowedNamespaces: KeyVaultIdentitySpec['allowedNamespaces'], allowedVaults: string[] = ['gebakv']): KeyVaultIdentitySpec {
  return { type: 'podIdentity', clientID: CLIENT_ID, tenantID: TENANT, allowedNamespaces, allowedVaults };
}

describe('selectorMatches', () => {
  it('follows LabelSelector semantics', () => {
    const labels = { team: 'shop', tier: 'web' };
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { team: 'shop' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { team: 'bank' } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'missing', operator: 'In', values: ['x'] }] }, labels)).toBe(false);
  });
});

describe('grantsNamespace', () => {
  it('grants named namespaces and selected ones, nothing else', () => {
    const id = identity({ names: ['shop'], selector: { matchLabels: { 'kv-access': 'shared' } } });
    expect(grantsNamespace(id, { name: 'shop', labels: {} })).toBe(true);
    expect(grantsNamespace(id, { name: 'bank', labels: { 'kv-access': 'shared' } })).toBe(true);
    expect(grantsNamespace(id, { name: 'bank', labels: {} })).toBe(false);
    expect(grantsNamespace(identity({ names: ['shop'] }), { name: 'bank', labels: { 'kv-access': 'shared' } })).toBe(false);
  });
});

describe('grantsVault', () => {
  const policy = AZURE_VAULT_HOSTS_ONLY;
  const vault = { url: 'https://gebakv.vault.azure.net', cloudName: 'AzurePublicCloud' } as const;

  it('matches a bare name as <name>.<the cloud\'s suffix>, URLs by canonical form, and "*"', () => {
    expect(grantsVault(identity({ names: [] }, ['gebakv']), vault, policy)).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['GebaKV']), vault, policy)).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['otherkv']), vault, policy)).toBe(false);
    expect(grantsVault(identity({ names: [] }, ['https://GEBAKV.vault.azure.net:443/']), vault, policy)).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['https://gebakv.vault.azure.net:8443']), vault, policy)).toBe(false);
    expect(grantsVault(identity({ names: [] }, ['*']), vault, policy)).toBe(true);
  });

  it('never grants a vault of the same name on another host or port; a bare name follows the vault\'s cloud', () => {
    const grant = identity({ names: [] }, ['gebakv']);
    expect(grantsVault(grant, { url: 'https://gebakv.vault.azure.cn', cloudName: 'AzureChinaCloud' }, policy)).toBe(true);
    expect(grantsVault(grant, { url: 'https://gebakv.vault.azure.cn', cloudName: 'AzurePublicCloud' }, policy)).toBe(false);
    expect(grantsVault(grant, { url: 'https://gebakv.evil.example', cloudName: 'AzurePublicCloud' }, policy)).toBe(false);
    expect(grantsVault(grant, { url: 'https://gebakv.vault.azure.net:8443', cloudName: 'AzurePublicCloud' }, policy)).toBe(false);
  });

  it("maps a name and a public URL to an emulator's vault through the same function as the spec", () => {
    const emulator = { vaultUrls: { gebakv: 'https://gebakv.vault.azure.net:9443/' }, allowedVaultHosts: [] };
    const emulated = { url: 'https://gebakv.vault.azure.net:9443', cloudName: 'AzurePublicCloud' } as const;
    expect(grantsVault(identity({ names: [] }, ['gebakv']), emulated, emulator)).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['https://gebakv.vault.azure.net']), emulated, emulator)).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['gebakv']), emulated, policy)).toBe(false);
  });
});

describe('sharedIdentityDenial', () => {
  const policy = AZURE_VAULT_HOSTS_ONLY;
  const vault = { url: 'https://gebakv.vault.azure.net', cloudName: 'AzurePublicCloud' } as const;
  const ns = { name: 'shop', labels: {} };
  const granted = { name: 'shared', spec: identity({ names: ['shop'] }) };

  it('allows the granted identity and refuses a client ID of another identity', () => {
    expect(sharedIdentityDenial(granted, { mode: 'podIdentity', clientID: undefined }, ns, vault, policy)).toBeUndefined();
    expect(sharedIdentityDenial(granted, { mode: 'podIdentity', clientID: CLIENT_ID.toUpperCase() }, ns, vault, policy)).toBeUndefined();
    expect(sharedIdentityDenial(granted, { mode: 'podIdentity', clientID: '99999999-9999-9999-9999-999999999999' }, ns, vault, policy)).toContain('is not the identity with client ID');
  });

  it('refuses another type, namespace or vault', () => {
    expect(sharedIdentityDenial(granted, { mode: 'managedIdentity', clientID: undefined }, ns, vault, policy)).toContain('is of type podIdentity');
    expect(sharedIdentityDenial(granted, { mode: 'podIdentity', clientID: undefined }, { name: 'bank', labels: {} }, vault, policy)).toContain('does not grant namespace');
    expect(sharedIdentityDenial(granted, { mode: 'podIdentity', clientID: undefined }, ns, { url: 'https://payrollkv.vault.azure.net', cloudName: 'AzurePublicCloud' }, policy)).toContain('does not grant vault');
  });
});

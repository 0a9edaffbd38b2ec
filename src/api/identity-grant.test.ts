import { describe, expect, it } from 'vitest';
import { grantsNamespace, grantsVault, selectorMatches } from './identity-grant.ts';
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
  it('matches names case-insensitively, URLs by host, and "*"', () => {
    const vault = { name: 'GebaKV', url: 'https://gebakv.vault.azure.net' };
    expect(grantsVault(identity({ names: [] }, ['gebakv']), vault)).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['otherkv']), vault)).toBe(false);
    expect(grantsVault(identity({ names: [] }, ['https://gebakv.vault.azure.net/']), { name: undefined, url: vault.url })).toBe(true);
    expect(grantsVault(identity({ names: [] }, ['https://gebakv.vault.azure.net:8443']), { name: undefined, url: vault.url })).toBe(false);
    expect(grantsVault(identity({ names: [] }, ['*']), vault)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { parseTlsRequest, TLS_CERTIFICATE_KEY, TLS_DELETION_POLICY_KEY, TLS_IDENTITY_KEY, TLS_TENANT_KEY } from './tls-annotations.ts';

const TENANT = '00000000-0000-0000-0000-000000000000';

function req(extra: Record<string, string>): ReturnType<typeof parseTlsRequest> {
  return parseTlsRequest({ [TLS_TENANT_KEY]: TENANT, [TLS_IDENTITY_KEY]: 'workloadIdentity:shop', ...extra });
}

describe('parseTlsRequest', () => {
  it('asks for nothing without the certificate key', () => {
    expect(parseTlsRequest(undefined)).toBeUndefined();
    expect(parseTlsRequest({ [TLS_IDENTITY_KEY]: 'workloadIdentity:shop' })).toBeUndefined();
  });

  it('reads the vault, certificate, pinned version, identity, tenant and deletion policy', () => {
    expect(req({ [TLS_CERTIFICATE_KEY]: 'https://ShopKV.vault.azure.net/certificates/shop-tls' })).toEqual({
      ok: true,
      value: { vaultUrl: 'https://shopkv.vault.azure.net', certificate: 'shop-tls', version: undefined, tenantID: TENANT, identity: { workloadIdentity: { serviceAccountName: 'shop' } }, deletionPolicy: 'Delete' },
    });
    const pinned = req({ [TLS_CERTIFICATE_KEY]: 'https://kv.vault.azure.net:443/certificates/c/0123456789ABCDEF0123456789abcdef', [TLS_DELETION_POLICY_KEY]: 'Retain' });
    expect(pinned?.ok && pinned.value).toMatchObject({ vaultUrl: 'https://kv.vault.azure.net', version: '0123456789abcdef0123456789abcdef', deletionPolicy: 'Retain' });
  });

  it('maps each identity mode onto the KeyVaultSync identity', () => {
    const identity = (text: string): unknown => {
      const r = req({ [TLS_CERTIFICATE_KEY]: 'https://kv.vault.azure.net/certificates/c', [TLS_IDENTITY_KEY]: text });
      return r?.ok === true ? r.value.identity : r?.message;
    };
    expect(identity('podIdentity:shared')).toEqual({ podIdentity: { identityRef: 'shared' } });
    expect(identity('managedIdentity: kubelet ')).toEqual({ managedIdentity: { identityRef: 'kubelet' } });
    expect(identity('servicePrincipal:kv-creds')).toEqual({ servicePrincipal: { secretRef: { name: 'kv-creds' } } });
    expect(identity('kubelet')).toContain('<mode>:<name>');
    expect(identity('userIdentity:x')).toContain('<mode>:<name>');
  });

  it.each([
    ['not a URL', 'not a URL'],
    ['http://kv.vault.azure.net/certificates/c', 'must be https://'],
    ['https://kv.vault.azure.net/secrets/c', 'must be https://'],
    ['https://kv.vault.azure.net/certificates/c/v1', 'must be https://'],
    ['https://kv.vault.azure.net/certificates/c?x=1', 'must be https://'],
    ['https://user:pw@kv.vault.azure.net/certificates/c', 'must be https://'],
  ])('refuses the certificate %s', (uri, message) => {
    const r = req({ [TLS_CERTIFICATE_KEY]: uri });
    expect(r?.ok === false ? r.message : '').toContain(message);
  });

  it('refuses a missing identity or tenant and an unknown deletion policy', () => {
    const cert = { [TLS_CERTIFICATE_KEY]: 'https://kv.vault.azure.net/certificates/c' };
    const noIdentity = parseTlsRequest({ ...cert, [TLS_TENANT_KEY]: TENANT });
    expect(noIdentity?.ok === false ? noIdentity.message : '').toContain('identity to read the vault with is missing');
    const noTenant = parseTlsRequest({ ...cert, [TLS_IDENTITY_KEY]: 'servicePrincipal:kv-creds' });
    expect(noTenant?.ok === false ? noTenant.message : '').toContain(TLS_TENANT_KEY);
    expect(parseTlsRequest({ ...cert, [TLS_IDENTITY_KEY]: 'managedIdentity:kubelet' })?.ok).toBe(true);
    const policy = req({ ...cert, [TLS_DELETION_POLICY_KEY]: 'Orphan' });
    expect(policy?.ok === false ? policy.message : '').toContain('Delete or Retain');
  });
});

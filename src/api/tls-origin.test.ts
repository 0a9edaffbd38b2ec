import { describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from './index.ts';
import { AZURE_VAULT_HOSTS_ONLY } from './vault-url.ts';
import { deriveGatewaySync, deriveIngressSync, derivedSyncName, sourceOf, TLS_ORIGIN_LABEL, type GatewayLike, type IngressLike } from './tls-origin.ts';

const TENANT = '00000000-0000-0000-0000-000000000000';
const ask = { 'kvsync.dev/tls-certificate': 'https://shopkv.vault.azure.net/certificates/shop-tls', 'kvsync.dev/tls-identity': 'workloadIdentity:shop', 'kvsync.dev/tls-tenant-id': TENANT };

function ingress(annotations: Record<string, string> | undefined, tls: { secretName?: string }[] = [{ secretName: 'shop-tls' }]): IngressLike {
  return { metadata: { name: 'web', namespace: 'shop', uid: 'u-1', ...(annotations === undefined ? {} : { annotations }) }, spec: { tls } };
}

function refusal(d: ReturnType<typeof deriveIngressSync>): string {
  return d.kind === 'refused' ? d.message : `not refused: ${d.kind}`;
}

describe('deriveIngressSync', () => {
  it('asks for nothing without the annotation', () => {
    expect(deriveIngressSync(ingress(undefined), AZURE_VAULT_HOSTS_ONLY)).toEqual({ kind: 'none' });
    expect(deriveIngressSync(ingress({ other: 'x' }), AZURE_VAULT_HOSTS_ONLY)).toEqual({ kind: 'none' });
  });

  it('derives a valid KeyVaultSync owned by the Ingress, writing its spec.tls Secret', () => {
    const d = deriveIngressSync(ingress(ask), AZURE_VAULT_HOSTS_ONLY);
    if (d.kind !== 'sync') throw new Error(refusal(d));
    expect(d.secrets).toEqual(['shop-tls']);
    expect(d.sync.metadata).toEqual({
      name: 'ingress-tls.web',
      namespace: 'shop',
      labels: { [TLS_ORIGIN_LABEL]: 'Ingress' },
      ownerReferences: [{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'web', uid: 'u-1', controller: true }],
    });
    expect(d.sync.spec).toEqual({
      vault: { url: 'https://shopkv.vault.azure.net', tenantID: TENANT },
      identity: { workloadIdentity: { serviceAccountName: 'shop' } },
      objects: [{ name: 'shop-tls', type: 'certificate', alias: 'cert-0' }],
      secretObjects: [{ secretName: 'shop-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'cert-0' }] }],
      deletionPolicy: 'Delete',
    });
    expect(parseKeyVaultSync(d.sync).ok).toBe(true);
    expect(sourceOf(d.sync)).toEqual({ kind: 'Ingress', name: 'web', namespace: 'shop', uid: 'u-1' });
  });

  it('picks among several spec.tls Secrets only when told which', () => {
    const two = [{ secretName: 'a' }, { secretName: 'b' }, { secretName: 'a' }];
    expect(refusal(deriveIngressSync(ingress(ask, two), AZURE_VAULT_HOSTS_ONLY))).toContain('kvsync.dev/tls-secret-name');
    const d = deriveIngressSync(ingress({ ...ask, 'kvsync.dev/tls-secret-name': 'b' }, two), AZURE_VAULT_HOSTS_ONLY);
    expect(d.kind === 'sync' && d.secrets).toEqual(['b']);
    expect(refusal(deriveIngressSync(ingress({ ...ask, 'kvsync.dev/tls-secret-name': 'c' }, two), AZURE_VAULT_HOSTS_ONLY))).toContain('"c"');
    expect(refusal(deriveIngressSync(ingress(ask, []), AZURE_VAULT_HOSTS_ONLY))).toContain('no spec.tls entry');
  });

  it('refuses a vault host the operator does not allow, and a bad annotation, before anything is applied', () => {
    const other = { ...ask, 'kvsync.dev/tls-certificate': 'https://attacker.example.com/certificates/x' };
    expect(refusal(deriveIngressSync(ingress(other), AZURE_VAULT_HOSTS_ONLY))).toContain('--allowed-vault-hosts');
    expect(refusal(deriveIngressSync(ingress({ ...ask, 'kvsync.dev/tls-identity': 'nobody' }), AZURE_VAULT_HOSTS_ONLY))).toContain('<mode>:<name>');
  });
});

describe('derivedSyncName', () => {
  it('is <kind>-tls.<name>, hashed when longer than a label value', () => {
    expect(derivedSyncName('Gateway', 'gw')).toBe('gateway-tls.gw');
    const long = derivedSyncName('Ingress', 'x'.repeat(80));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(derivedSyncName('Ingress', `${'x'.repeat(79)}y`));
  });
});

describe('sourceOf', () => {
  it('needs both the label and a controller owner reference of that kind', () => {
    const ref = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'web', uid: 'u', controller: true };
    expect(sourceOf({ metadata: { namespace: 'n', ownerReferences: [ref] } })).toBeUndefined();
    expect(sourceOf({ metadata: { namespace: 'n', labels: { [TLS_ORIGIN_LABEL]: 'Ingress' }, ownerReferences: [{ ...ref, controller: false }] } })).toBeUndefined();
    expect(sourceOf({ metadata: { namespace: 'n', labels: { [TLS_ORIGIN_LABEL]: 'Gateway' }, ownerReferences: [ref] } })).toBeUndefined();
    expect(sourceOf({ metadata: { namespace: 'n', labels: { [TLS_ORIGIN_LABEL]: 'Ingress' }, ownerReferences: [ref] } })).toEqual({ kind: 'Ingress', name: 'web', namespace: 'n', uid: 'u' });
  });
});

describe('deriveGatewaySync', () => {
  const listener = (name: string, secret: string, options: Record<string, string> | undefined, ref: Record<string, string> = {}): NonNullable<NonNullable<GatewayLike['spec']>['listeners']>[number] => ({
    name,
    tls: { mode: 'Terminate', certificateRefs: [{ name: secret, ...ref }], ...(options === undefined ? {} : { options }) },
  });
  const gateway = (...listeners: NonNullable<NonNullable<GatewayLike['spec']>['listeners']>): GatewayLike => ({ metadata: { name: 'gw', namespace: 'shop', uid: 'g-1' }, spec: { listeners } });

  it('fills the certificateRefs Secret of each listener that asks, sharing one object per certificate', () => {
    const d = deriveGatewaySync(gateway(listener('a', 'tls-a', ask), listener('b', 'tls-b', ask), listener('c', 'other', undefined)), AZURE_VAULT_HOSTS_ONLY);
    if (d.kind !== 'sync') throw new Error(d.kind === 'refused' ? d.message : d.kind);
    expect(d.secrets).toEqual(['tls-a', 'tls-b']);
    expect(d.sync.metadata.name).toBe('gateway-tls.gw');
    expect(d.sync.metadata.ownerReferences[0]).toMatchObject({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', uid: 'g-1' });
    expect((d.sync.spec.objects as unknown[]).length).toBe(1);
    expect(parseKeyVaultSync(d.sync).ok).toBe(true);
  });

  it('asks for nothing when no listener carries the keys', () => {
    expect(deriveGatewaySync(gateway(listener('a', 'x', { 'example.com/other': 'y' })), AZURE_VAULT_HOSTS_ONLY)).toEqual({ kind: 'none' });
  });

  it('refuses Secrets in another namespace or of another kind, and one Secret asked for twice differently', () => {
    const msg = (g: GatewayLike): string => {
      const d = deriveGatewaySync(g, AZURE_VAULT_HOSTS_ONLY);
      return d.kind === 'refused' ? d.message : d.kind;
    };
    expect(msg(gateway(listener('a', 's', ask, { namespace: 'kube-system' })))).toContain("only in the Gateway's own namespace");
    expect(msg(gateway(listener('a', 's', ask, { group: 'example.com', kind: 'Vault' })))).toContain('not a core Secret');
    const v2 = { ...ask, 'kvsync.dev/tls-certificate': 'https://shopkv.vault.azure.net/certificates/other' };
    expect(msg(gateway(listener('a', 's', ask), listener('b', 's', v2)))).toContain('different certificates in the same Secret s');
    const otherVault = { ...ask, 'kvsync.dev/tls-certificate': 'https://otherkv.vault.azure.net/certificates/c' };
    expect(msg(gateway(listener('a', 's', ask), listener('b', 't', otherVault)))).toContain('one Gateway uses one of each');
  });
});

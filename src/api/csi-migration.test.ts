/**
 * What a SecretProviderClass means to the CSI driver's Azure provider, and what kvsync makes of the
 * same spec after `apiVersion` and `kind` change: the same thing, or a refusal that says what to
 * change. The whole corpus of real manifests runs in test/integration/api/spc-corpus.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from './parse.ts';
import type { ParseResult } from './parse.ts';
import type { ResolvedKeyVaultSync } from './resolved.ts';
import { CLIENT_ID, keyVaultSync, TENANT } from './testing/fixtures.ts';

const OBJECTS = 'array:\n  - |\n    objectName: web-cert\n    objectType: secret\n  - |\n    objectName: db-password\n    objectType: secret\n';

function spc(parameters: Record<string, string>, extra: Record<string, unknown> = {}): ParseResult<ResolvedKeyVaultSync> {
  return parseKeyVaultSync(keyVaultSync({ provider: 'azure', parameters: { keyvaultName: 'gebakv', tenantId: TENANT, objects: OBJECTS, ...parameters }, ...extra }));
}

function ok(r: ParseResult<ResolvedKeyVaultSync>): ResolvedKeyVaultSync {
  if (!r.ok) throw new Error(`expected a valid spec, got: ${r.error.message}`);
  return r.value;
}

function issue(r: ParseResult<unknown>, path: string): string {
  if (r.ok) throw new Error('expected InvalidSpec, got a valid spec');
  const found = r.error.issues.find((i) => i.path === path);
  if (found === undefined) throw new Error(`no issue at ${path}: ${r.error.message}`);
  return found.message;
}

describe('cloudName as go-autorest reads it', () => {
  it.each([
    ['AzureCloud', 'https://gebakv.vault.azure.net'],
    ['azurepubliccloud', 'https://gebakv.vault.azure.net'],
    [' AZUREUSGOVERNMENT ', 'https://gebakv.vault.usgovcloudapi.net'],
    ['AzureUSGovernmentCloud', 'https://gebakv.vault.usgovcloudapi.net'],
    ['azureChinaCloud', 'https://gebakv.vault.azure.cn'],
    ['', 'https://gebakv.vault.azure.net'],
  ])('%j → %s', (cloudName, url) => {
    expect(ok(spc({ clientID: CLIENT_ID, cloudName })).vault.url).toBe(url);
  });

  it.each([
    ['AzureGermanCloud', /Azure Germany, which closed in October 2021.*set cloudName to .*AzurePublicCloud.*or spec\.vault\.url/],
    ['AzureStackCloud', /Azure Stack Hub.*set spec\.vault\.url/],
    ['AzurePublic', /not an Azure cloud name .*AzureCloud.*correct it, or set spec\.vault\.url/],
  ])('%s is refused with what to set instead', (cloudName, message) => {
    expect(issue(spc({ clientID: CLIENT_ID, cloudName }), 'spec.parameters.cloudName')).toMatch(message);
  });
});

describe('identity: no silent change of whose identity reads the vault', () => {
  it('an SPC that selects no identity (nodePublishSecretRef) is refused, naming servicePrincipal.secretRef', () => {
    expect(issue(spc({ usePodIdentity: 'false' }), 'spec.identity')).toMatch(/nodePublishSecretRef.*set spec\.identity\.servicePrincipal\.secretRef\.name to that Secret/);
  });

  it('says why look-alike parameters selected nothing', () => {
    const m = issue(spc({ userAssignedIdentityID: CLIENT_ID, useWorkloadIdentity: 'true' }), 'spec.identity');
    expect(m).toContain('userAssignedIdentityID is set, but the provider reads it only with useVMManagedIdentity: "true"');
    expect(m).toContain('useWorkloadIdentity is not a provider parameter');
  });

  it('accepts it once spec.identity names the service principal Secret, or another identity', () => {
    expect(ok(spc({}, { identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } } })).identity).toEqual({ mode: 'servicePrincipal', secretName: 'kv-creds', clientIDKey: 'clientid', clientSecretKey: 'clientsecret' });
    expect(ok(spc({ useWorkloadIdentity: 'true' }, { identity: { workloadIdentity: { serviceAccountName: 'web' } } })).identity).toEqual({ mode: 'workloadIdentity', serviceAccountName: 'web', clientID: undefined });
  });

  it('a typed spec without parameters still defaults to workload identity with the default ServiceAccount', () => {
    const typed = keyVaultSync({ vault: { name: 'gebakv', tenantID: TENANT }, objects: [{ name: 'db-password' }] });
    expect(ok(parseKeyVaultSync(typed)).identity).toEqual({ mode: 'workloadIdentity', serviceAccountName: 'default', clientID: undefined });
  });

  it('useAzureTokenProxy (AKS identity binding) is refused with the federated credential to create, not ignored', () => {
    const m = issue(spc({ clientID: CLIENT_ID, useAzureTokenProxy: 'true' }), 'spec.parameters.useAzureTokenProxy');
    expect(m).toMatch(/identity binding .* not supported.*federated credential.*system:serviceaccount:<namespace>:<serviceaccount>.*spec\.identity\.workloadIdentity\.serviceAccountName/);
    expect(ok(spc({ clientID: CLIENT_ID, useAzureTokenProxy: 'false' })).identity.mode).toBe('workloadIdentity');
    expect(issue(spc({ clientID: CLIENT_ID, useAzureTokenProxy: 'yes' }), 'spec.parameters.useAzureTokenProxy')).toContain('must be a boolean');
  });

  it('a provider parameter written beside spec.parameters says where it belongs', () => {
    expect(issue(spc({ clientID: CLIENT_ID }, { tenantId: TENANT }), 'spec.tenantId')).toBe('unknown field; tenantId is an Azure provider parameter: move it under spec.parameters');
  });
});

describe('Secret types: any the driver accepts, except those that let the writer act as someone else', () => {
  const secretObjects = (type: string, data: unknown[]) => ({ secretObjects: [{ secretName: 'out', type, data }] });

  it.each(['tls', 'opaque', 'istio.io/key-and-cert', 'kubernetes.io/ssh-auth'])('%s is written as given', (type) => {
    const key = type === 'kubernetes.io/ssh-auth' ? 'ssh-privatekey' : 'key';
    expect(ok(spc({ clientID: CLIENT_ID }, secretObjects(type, [{ objectName: 'db-password', key }]))).secrets[0]?.type).toBe(type);
  });

  it.each(['kubernetes.io/service-account-token', 'bootstrap.kubernetes.io/token', 'helm.sh/release.v1', 'Helm.sh/Release.v1'])('%s is refused', (type) => {
    expect(issue(spc({ clientID: CLIENT_ID }, secretObjects(type, [{ objectName: 'db-password' }])), 'spec.secretObjects[0].type')).toMatch(/^type must not be kubernetes\.io\/service-account-token/);
  });

  it('a built-in type without the key the apiserver requires is refused before anything is written', () => {
    expect(issue(spc({ clientID: CLIENT_ID }, secretObjects('kubernetes.io/ssh-auth', [{ objectName: 'db-password', key: 'id_rsa' }])), 'spec.secretObjects[0].data')).toBe('a kubernetes.io/ssh-auth secret needs the key ssh-privatekey');
  });
});

describe('<name>.crt / <name>.key: the provider\'s separate certificate and key files', () => {
  it('resolve to the certificate chain and the private key of the object', () => {
    const v = ok(spc({ clientID: CLIENT_ID }, { secretObjects: [{ secretName: 'split', type: 'Opaque', data: [{ objectName: 'web-cert.crt', key: 'cert' }, { objectName: 'web-cert.key', key: 'key' }, { objectName: 'web-cert.key' }] }] }));
    expect(v.secrets[0]?.entries).toEqual([
      { kind: 'key', key: 'cert', object: 'web-cert', part: 'tls.crt' },
      { kind: 'key', key: 'key', object: 'web-cert', part: 'tls.key' },
      { kind: 'key', key: 'web-cert.key', object: 'web-cert', part: 'tls.key' },
    ]);
  });

  it('feed a kubernetes.io/tls Secret', () => {
    const v = ok(spc({ clientID: CLIENT_ID }, { secretObjects: [{ secretName: 'tls', type: 'kubernetes.io/tls', data: [{ objectName: 'web-cert.crt', key: 'tls.crt' }, { objectName: 'web-cert.key', key: 'tls.key' }] }] }));
    expect(v.secrets[0]?.entries.map((e) => e.kind === 'key' && e.part)).toEqual(['tls.crt', 'tls.key']);
  });

  it('need an object of that name that carries a certificate', () => {
    expect(issue(spc({ clientID: CLIENT_ID }, { secretObjects: [{ secretName: 'x', data: [{ objectName: 'nothing.crt' }] }] }), 'spec.secretObjects[0].data[0].objectName')).toContain('"nothing.crt" is none');
  });
});

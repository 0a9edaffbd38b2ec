import { describe, expect, it } from 'vitest';
import { parseKeyVaultIdentity, parseKeyVaultSync } from './parse.ts';
import type { ParseResult } from './parse.ts';
import type { ResolvedKeyVaultSync } from './resolved.ts';
import { KeyVaultSyncSpecSchema } from './keyvaultsync-schema.ts';
import type { KeyVaultSyncSpec } from './keyvaultsync-schema.ts';
import { KEY_VAULT_IDENTITY_RULES, KEY_VAULT_SYNC_RULES } from './rules.ts';
import { withDefaults } from './validate.ts';
import type { VaultHostPolicy } from './vault-url.ts';
import {
  CLIENT_ID,
  designExampleSpec,
  KEY_VAULT_IDENTITY_RULE_CASES,
  KEY_VAULT_SYNC_RULE_CASES,
  keyVaultIdentity,
  keyVaultIdentitySpec,
  keyVaultSync,
  migrate,
  secretProviderClass,
  TENANT,
} from './testing/fixtures.ts';

function ok(r: ParseResult<ResolvedKeyVaultSync>): ResolvedKeyVaultSync {
  if (!r.ok) throw new Error(`expected a valid spec, got: ${r.error.message}`);
  return r.value;
}

function issuesOf(r: ParseResult<unknown>): { path: string; message: string }[] {
  if (r.ok) throw new Error('expected InvalidSpec, got a valid spec');
  expect(r.error.reason).toBe('InvalidSpec');
  return [...r.error.issues];
}

function parseSpec(spec: Record<string, unknown>, vaults?: VaultHostPolicy) {
  return parseKeyVaultSync(keyVaultSync(spec), vaults);
}

/** A resolved kubernetes.io/tls Secret with every default, writing `object`'s parts under `keys` in that order. */
function tlsSecretWithDefaults(name: string, object: string, keys: readonly ('tls.crt' | 'tls.key')[]): ResolvedKeyVaultSync['secrets'][number] {
  return {
    name,
    type: 'kubernetes.io/tls',
    labels: {},
    annotations: {},
    creationPolicy: 'Owner',
    tls: { includeRoot: false, caCert: false, keyFormat: 'pkcs8' },
    entries: keys.map((key) => ({ kind: 'key', key, object, part: key })),
  };
}

/** An operator who allows private vault hosts (Azure Stack Hub, a test domain). */
const privateHosts: VaultHostPolicy = { vaultUrls: {}, allowedVaultHosts: ['*.vault.localtest.me:8443', '*.stack.local'] };

describe('parseKeyVaultSync: the documented example', () => {
  it('resolves vault, identity, objects and output keys with defaults', () => {
    const v = ok(parseSpec(designExampleSpec()));
    expect(v.name).toBe('example');
    expect(v.namespace).toBe('shop');
    expect(v.vault).toEqual({ url: 'https://gebakv.vault.azure.net', name: 'gebakv', tenantID: TENANT, cloudName: 'AzurePublicCloud' });
    expect(v.identity).toEqual({ mode: 'workloadIdentity', serviceAccountName: 'shop', clientID: undefined });
    expect(v.objects).toEqual([
      { name: 'nginx', type: 'certificate', outputName: 'nginx', version: undefined, versionHistory: 1, encoding: 'utf-8', format: 'pem', optional: false, filePermission: 0o644, split: undefined, source: 'objects' },
      { name: 'db-password', type: 'secret', outputName: 'password', version: undefined, versionHistory: 1, encoding: 'utf-8', format: 'pem', optional: false, filePermission: 0o644, split: undefined, source: 'objects' },
    ]);
    expect(v.secrets).toEqual([
      tlsSecretWithDefaults('shop-tls', 'nginx', ['tls.crt', 'tls.key']),
      { name: 'shop-db', type: 'Opaque', labels: {}, annotations: {}, creationPolicy: 'Owner', tls: undefined, entries: [{ kind: 'key', key: 'DB_PASSWORD', object: 'password', part: 'content' }] },
    ]);
    expect(v.refreshIntervalMs).toBe(5 * 60_000);
    expect(v.restartTargets).toEqual([{ kind: 'Deployment', name: 'web' }]);
  });

  it('applies the schema defaults: type secret, refreshInterval 1h, creationPolicy Owner, Opaque, SP keys', () => {
    const v = ok(
      parseSpec({
        vault: { name: 'gebakv', tenantID: TENANT },
        identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } },
        objects: [{ name: 'a' }],
        secretObjects: [{ secretName: 's', data: [{ objectName: 'a' }] }],
      }),
    );
    expect(v.objects[0]?.type).toBe('secret');
    expect(v.refreshIntervalMs).toBe(3_600_000);
    expect(v.secrets[0]).toMatchObject({ type: 'Opaque', creationPolicy: 'Owner', entries: [{ kind: 'key', key: 'a', object: 'a', part: 'content' }] });
    expect(v.identity).toEqual({ mode: 'servicePrincipal', secretName: 'kv-creds', clientIDKey: 'clientid', clientSecretKey: 'clientsecret' });
  });

  it('defaults the identity to workloadIdentity with the ServiceAccount "default"', () => {
    const spec = designExampleSpec();
    delete spec.identity;
    expect(ok(parseSpec(spec)).identity).toEqual({ mode: 'workloadIdentity', serviceAccountName: 'default', clientID: undefined });
  });

  it('treats refreshInterval "0" as fetch once', () => {
    expect(ok(parseSpec({ ...designExampleSpec(), refreshInterval: '0' })).refreshIntervalMs).toBe(0);
    expect(ok(parseSpec({ ...designExampleSpec(), refreshInterval: '1h30m' })).refreshIntervalMs).toBe(5_400_000);
  });
});

describe('parseKeyVaultSync: every rule (the same cases run against the apiserver CEL in test/integration/api)', () => {
  it('has a case for every rule', () => {
    expect(new Set(KEY_VAULT_SYNC_RULE_CASES.map((c) => c.rule))).toEqual(new Set(KEY_VAULT_SYNC_RULES.map((r) => r.id)));
    expect(new Set(KEY_VAULT_IDENTITY_RULE_CASES.map((c) => c.rule))).toEqual(new Set(KEY_VAULT_IDENTITY_RULES.map((r) => r.id)));
  });

  for (const c of KEY_VAULT_SYNC_RULE_CASES) {
    it(`${c.rule}: rejects with "${c.message}"`, () => {
      const issues = issuesOf(parseSpec(c.spec));
      expect(issues.length).toBeGreaterThan(0);
      for (const i of issues) {
        expect(i.message.startsWith(c.message), `${i.path}: ${i.message}`).toBe(true);
        expect(i.path.startsWith(c.path)).toBe(true);
      }
      // Exactly this rule fires, so the case tests what it says.
      const firing = KEY_VAULT_SYNC_RULES.filter((r) => r.check(withDefaults(KeyVaultSyncSpecSchema, c.spec as KeyVaultSyncSpec)).length > 0).map((r) => r.id);
      expect(firing).toEqual([c.rule]);
    });
  }

  for (const c of KEY_VAULT_IDENTITY_RULE_CASES) {
    it(`KeyVaultIdentity ${c.rule}: rejects with "${c.message}"`, () => {
      const issues = issuesOf(parseKeyVaultIdentity(keyVaultIdentity(c.spec)));
      expect(issues).toEqual([{ path: c.path, message: c.message }]);
    });
  }

  it('accepts an empty identity only when absent, not when present without a mode', () => {
    expect(issuesOf(parseSpec({ ...designExampleSpec(), identity: {} }))).toEqual([{ path: 'spec.identity', message: 'exactly one of workloadIdentity, podIdentity, managedIdentity and servicePrincipal must be set' }]);
  });

  it('does not need a tenant for podIdentity / managedIdentity', () => {
    const v = ok(parseSpec({ ...designExampleSpec(), vault: { name: 'gebakv' }, identity: { managedIdentity: { identityRef: 'kubelet-identity' } } }));
    expect(v.identity).toEqual({ mode: 'managedIdentity', identityRef: 'kubelet-identity', clientID: undefined });
    expect(v.vault.tenantID).toBeUndefined();
  });
});

describe('parseKeyVaultSync: schema errors name the field', () => {
  it('reports bad enums, patterns, unknown fields and missing required fields with paths', () => {
    const issues = issuesOf(
      parseSpec({
        vault: { name: 'x', tenantID: TENANT },
        objects: [{ name: 'a', type: 'password', colour: 'red' }],
        secretObjects: [{ secretName: 'Not_A_Name', data: [] }],
        refreshInterval: 'soon',
      }),
    );
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['spec.vault.name', 'spec.objects[0].type', 'spec.objects[0].colour', 'spec.secretObjects[0].secretName', 'spec.secretObjects[0].data', 'spec.refreshInterval']),
    );
    expect(issues.find((i) => i.path === 'spec.objects[0].type')?.message).toBe('must be one of: secret, certificate, cert, key');
    expect(issues.find((i) => i.path === 'spec.objects[0].colour')?.message).toBe('unknown field');
  });

  it('checks the envelope', () => {
    expect(issuesOf(parseKeyVaultSync({ apiVersion: 'v1', kind: 'Secret', spec: {} })).map((i) => i.path)).toEqual(['apiVersion', 'kind']);
    expect(issuesOf(parseKeyVaultSync('nope'))[0]?.message).toBe('must be a KeyVaultSync object');
    expect(issuesOf(parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync' }))).toEqual([{ path: 'spec', message: 'is required and must be an object' }]);
  });

  it('puts every problem into one InvalidSpecError message', () => {
    const r = parseSpec({ vault: { name: 'x' }, refreshInterval: 'soon' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(Error);
      expect(r.error.name).toBe('InvalidSpecError');
      expect(r.error.message).toContain('spec.vault.name: ');
      expect(r.error.message).toContain('spec.refreshInterval: ');
    }
  });
});

describe('parseKeyVaultSync: vaults and clouds', () => {
  it.each([
    ['AzurePublicCloud', 'https://gebakv.vault.azure.net'],
    ['AzureUSGovernmentCloud', 'https://gebakv.vault.usgovcloudapi.net'],
    ['AzureChinaCloud', 'https://gebakv.vault.azure.cn'],
  ])('cloudName %s gives %s', (cloudName, url) => {
    expect(ok(parseSpec({ ...designExampleSpec(), vault: { name: 'gebakv', tenantID: TENANT, cloudName } })).vault.url).toBe(url);
  });

  it('lets vault.url override the cloud suffix (Azure Stack, private DNS) on hosts the operator allows, and trims a trailing slash', () => {
    const spec = { ...designExampleSpec(), vault: { name: 'gebakv', tenantID: TENANT, url: 'https://gebakv.vault.localtest.me:8443/' } };
    expect(ok(parseSpec(spec, privateHosts)).vault).toMatchObject({ url: 'https://gebakv.vault.localtest.me:8443', name: 'gebakv' });
    const issues = issuesOf(parseSpec(spec));
    expect(issues.map((i) => i.path)).toEqual(['spec.vault.url']);
    expect(issues[0]?.message).toContain('the operator must allow it with --allowed-vault-hosts');
  });

  it('refuses a name and a url of different vaults', () => {
    const spec = { ...designExampleSpec(), vault: { name: 'tenantakv', tenantID: TENANT, url: 'https://payrollkv.vault.azure.net' } };
    const issues = issuesOf(parseSpec(spec));
    expect(issues.map((i) => i.path)).toEqual(['spec.vault']);
    expect(issues[0]?.message).toContain('spec.vault.url must be the URL of the vault');
    const csi = { ...designExampleSpec(), vault: { tenantID: TENANT, url: 'https://payrollkv.vault.azure.net' }, parameters: { keyvaultName: 'tenantakv' } };
    expect(issuesOf(parseSpec(csi))).toEqual([{ path: 'spec.vault.url', message: 'names vault host "payrollkv.vault.azure.net", not the vault "tenantakv" that name gives; set one of them, or make them agree' }]);
  });

  it('rejects a non-https url', () => {
    expect(issuesOf(parseSpec({ ...designExampleSpec(), vault: { tenantID: TENANT, url: 'http://kv.local' } })).map((i) => i.path)).toEqual(['spec.vault.url']);
  });

  it('reads cloudName from parameters case-insensitively and refuses an unknown cloud without a url', () => {
    const spec = { ...designExampleSpec(), vault: { name: 'gebakv', tenantID: TENANT }, parameters: { cloudName: 'azurechinacloud' } };
    expect(ok(parseSpec(spec)).vault.url).toBe('https://gebakv.vault.azure.cn');
    const stack = { ...designExampleSpec(), parameters: { cloudName: 'AzureStackCloud' } };
    expect(issuesOf(parseSpec(stack))[0]?.path).toBe('spec.parameters.cloudName');
    const withUrl = { ...designExampleSpec(), vault: { url: 'https://kv.stack.local', tenantID: TENANT }, parameters: { cloudName: 'AzureStackCloud' } };
    expect(ok(parseSpec(withUrl, privateHosts)).vault.url).toBe('https://kv.stack.local');
  });
});

describe('parseKeyVaultSync: typed fields and CSI parameters together', () => {
  it('accepts equal values on both sides (names case-insensitively)', () => {
    const spec = { ...designExampleSpec(), parameters: { keyvaultName: 'GebaKV', tenantId: TENANT, cloudName: 'AzurePublicCloud' } };
    expect(ok(parseSpec(spec)).vault.name).toBe('gebakv');
  });

  it.each([
    [{ keyvaultName: 'otherkv' }, 'spec.parameters.keyvaultName', 'conflicts with spec.vault.name ("otherkv" ≠ "gebakv")'],
    [{ tenantID: '99999999-0000-0000-0000-000000000000' }, 'spec.parameters.tenantID', 'conflicts with spec.vault.tenantID'],
    [{ tenantID: TENANT, tenantId: '99999999-0000-0000-0000-000000000000' }, 'spec.parameters.tenantId', 'conflicts with spec.parameters.tenantID'],
    [{ cloudName: 'AzureChinaCloud' }, 'spec.parameters.cloudName', 'conflicts with spec.vault.cloudName'],
    [{ usePodIdentity: 'true' }, 'spec.identity', 'workloadIdentity conflicts with spec.parameters, which select podIdentity'],
    [{ clientID: '99999999-0000-0000-0000-000000000000' }, 'spec.parameters.clientID', 'conflicts with spec.identity.workloadIdentity.clientID'],
    [{ usePodIdentity: 'true', useVMManagedIdentity: 'true' }, 'spec.parameters.useVMManagedIdentity', 'cannot both be true'],
    [{ usePodIdentity: 'yes' }, 'spec.parameters.usePodIdentity', 'must be a boolean'],
  ])('conflict %j is an error at %s', (parameters, path, message) => {
    const spec = designExampleSpec();
    spec.vault = { name: 'gebakv', tenantID: TENANT, cloudName: 'AzurePublicCloud' };
    spec.identity = { workloadIdentity: { serviceAccountName: 'shop', clientID: CLIENT_ID } };
    spec.parameters = parameters;
    const issues = issuesOf(parseSpec(spec));
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toContain(message);
  });

  it('fills a typed workloadIdentity clientID from parameters.clientID', () => {
    const v = ok(parseSpec({ ...designExampleSpec(), parameters: { clientID: CLIENT_ID } }));
    expect(v.identity).toEqual({ mode: 'workloadIdentity', serviceAccountName: 'shop', clientID: CLIENT_ID });
  });

  it('keeps userAssignedIdentityID as the client ID to match for a managedIdentity', () => {
    const spec = { ...designExampleSpec(), identity: { managedIdentity: { identityRef: 'kubelet-identity' } }, parameters: { useVMManagedIdentity: 'true', userAssignedIdentityID: CLIENT_ID } };
    expect(ok(parseSpec(spec)).identity).toEqual({ mode: 'managedIdentity', identityRef: 'kubelet-identity', clientID: CLIENT_ID });
  });

  it('merges an object declared on both sides and rejects a differing field', () => {
    const base = designExampleSpec();
    base.parameters = { objects: 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n    objectAlias: password\n    objectVersion: abc123\n' };
    const v = ok(parseSpec(base));
    expect(v.objects.filter((o) => o.outputName === 'password')).toEqual([expect.objectContaining({ name: 'db-password', version: 'abc123', source: 'objects' })]);

    const clash = designExampleSpec();
    (clash.objects as Record<string, unknown>[])[1]!.version = 'def456';
    clash.parameters = base.parameters;
    const issues = issuesOf(parseSpec(clash));
    expect(issues).toEqual([{ path: 'spec.parameters.objects: array[0]', message: 'conflicts with spec.objects[1].version ("abc123" ≠ "def456")' }]);
  });

  it('runs the reference rules on the merged object list (CEL cannot see parameters.objects)', () => {
    const spec = { ...designExampleSpec(), objects: [], parameters: { objects: 'array:\n  - |\n    objectName: nginx\n    objectType: cert\n' } };
    const paths = issuesOf(parseSpec(spec)).map((i) => `${i.path}: ${i.message}`);
    expect(paths).toEqual([
      'spec.secretObjects[1].data[0].objectName: every secretObjects[].data[].objectName must be the output name (alias or name) of an object; "password" is none',
      'spec.secretObjects[0]: a kubernetes.io/tls secret must take its data from an object of type certificate; "nginx" has objectType cert, which fetches the public certificate only: use objectType secret to fetch the certificate with its private key',
    ]);
  });
});

describe('parseKeyVaultSync: output keys', () => {
  function secretsOf(secretObjects: unknown[], objects: unknown[] = designExampleSpec().objects as unknown[]) {
    return ok(parseSpec({ ...designExampleSpec(), objects, secretObjects })).secrets;
  }

  it('adds ca.crt for a tls secret with caCert, and honours keyFormat/includeRoot', () => {
    const [s] = secretsOf([{ secretName: 't', type: 'kubernetes.io/tls', caCert: true, includeRoot: true, keyFormat: 'pkcs1', data: [{ objectName: 'nginx' }] }]);
    expect(s?.tls).toEqual({ includeRoot: true, caCert: true, keyFormat: 'pkcs1' });
    expect(s?.entries.map((e) => (e.kind === 'key' ? `${e.key}<-${e.object}:${e.part}` : e.kind))).toEqual(['tls.crt<-nginx:tls.crt', 'tls.key<-nginx:tls.key', 'ca.crt<-nginx:ca.crt']);
  });

  it('accepts the CSI style tls data (explicit tls.key and tls.crt keys)', () => {
    const [s] = secretsOf([{ secretName: 't', type: 'kubernetes.io/tls', data: [{ objectName: 'nginx', key: 'tls.key' }, { objectName: 'nginx', key: 'tls.crt' }] }]);
    expect(s?.entries).toEqual([
      { kind: 'key', key: 'tls.key', object: 'nginx', part: 'tls.key' },
      { kind: 'key', key: 'tls.crt', object: 'nginx', part: 'tls.crt' },
    ]);
  });

  it('requires tls.crt and tls.key in a tls secret', () => {
    const issues = issuesOf(parseSpec({ ...designExampleSpec(), secretObjects: [{ secretName: 't', type: 'kubernetes.io/tls', data: [{ objectName: 'nginx', key: 'tls.crt' }] }] }));
    expect(issues).toEqual([{ path: 'spec.secretObjects[0].data', message: 'a kubernetes.io/tls secret needs tls.crt and tls.key' }]);
  });

  it('infers .dockerconfigjson and checks basic-auth keys', () => {
    const objects = [{ name: 'regcred' }, { name: 'user' }, { name: 'pass' }];
    const [d] = secretsOf([{ secretName: 'r', type: 'kubernetes.io/dockerconfigjson', data: [{ objectName: 'regcred' }] }], objects);
    expect(d?.entries).toEqual([{ kind: 'key', key: '.dockerconfigjson', object: 'regcred', part: 'content' }]);
    const [b] = secretsOf([{ secretName: 'b', type: 'kubernetes.io/basic-auth', data: [{ objectName: 'user', key: 'username' }, { objectName: 'pass', key: 'password' }] }], objects);
    expect(b?.entries.map((e) => (e.kind === 'key' ? e.key : ''))).toEqual(['username', 'password']);
    const issues = issuesOf(parseSpec({ ...designExampleSpec(), objects, secretObjects: [{ secretName: 'b', type: 'kubernetes.io/basic-auth', data: [{ objectName: 'user' }] }] }));
    expect(issues[0]?.message).toBe('a kubernetes.io/basic-auth secret needs the key username or password');
  });

  it('rejects two entries producing the same inferred key', () => {
    const objects = [{ name: 'a' }, { name: 'b', alias: 'x' }, { name: 'x', alias: 'y' }];
    const issues = issuesOf(parseSpec({ ...designExampleSpec(), objects, secretObjects: [{ secretName: 's', data: [{ objectName: 'x' }, { objectName: 'a', key: 'x' }] }] }));
    expect(issues).toEqual([{ path: 'spec.secretObjects[0].data', message: 'key "x" is produced twice' }]);
  });

  it('expands split objects and refuses a key for them', () => {
    const objects = [{ name: 'app-settings', split: 'json' }];
    const [s] = secretsOf([{ secretName: 's', data: [{ objectName: 'app-settings' }] }], objects);
    expect(s?.entries).toEqual([{ kind: 'split', object: 'app-settings' }]);
    const issues = issuesOf(parseSpec({ ...designExampleSpec(), objects, secretObjects: [{ secretName: 's', data: [{ objectName: 'app-settings', key: 'k' }] }] }));
    expect(issues[0]?.path).toBe('spec.secretObjects[0].data[0].key');
  });

  it('resolves ConfigMap entries to public parts only', () => {
    const objects = [{ name: 'nginx', type: 'certificate' }, { name: 'root', type: 'cert' }, { name: 'signing', type: 'key' }];
    const v = ok(
      parseSpec({
        ...designExampleSpec(),
        objects,
        secretObjects: [],
        configMapObjects: [{ configMapName: 'pub', data: [{ objectName: 'nginx' }, { objectName: 'nginx', key: 'ca.crt' }, { objectName: 'root', key: 'root.pem' }, { objectName: 'signing' }] }],
      }),
    );
    expect(v.configMaps[0]?.entries).toEqual([
      { key: 'nginx', object: 'nginx', part: 'tls.crt' },
      { key: 'ca.crt', object: 'nginx', part: 'ca.crt' },
      { key: 'root.pem', object: 'root', part: 'content' },
      { key: 'signing', object: 'signing', part: 'content' },
    ]);
  });
});

describe('parseKeyVaultSync: a SecretProviderClass migrated by changing apiVersion and kind', () => {
  it('parses to the expected normalised spec', () => {
    const r = parseKeyVaultSync(migrate(secretProviderClass()));
    const v = ok(r);
    expect(r.warnings).toEqual([]);
    expect(v.vault).toEqual({ url: 'https://kvname.vault.azure.net', name: 'kvname', tenantID: TENANT, cloudName: 'AzurePublicCloud' });
    expect(v.identity).toEqual({ mode: 'workloadIdentity', serviceAccountName: 'default', clientID: CLIENT_ID });
    expect(v.objects.map((o) => [o.name, o.type, o.outputName, o.filePermission, o.source])).toEqual([
      ['secret1', 'secret', 'secretalias', 0o644, 'parameters'],
      ['key1', 'key', 'key1', 0o644, 'parameters'],
      ['ingresscert', 'secret', 'ingresscert', 0o600, 'parameters'],
    ]);
    expect(v.secrets).toEqual([
      { name: 'foosecret', type: 'Opaque', labels: { environment: 'test' }, annotations: {}, creationPolicy: 'Owner', tls: undefined, entries: [{ kind: 'key', key: 'username', object: 'secretalias', part: 'content' }] },
      tlsSecretWithDefaults('ingress-tls-csi', 'ingresscert', ['tls.key', 'tls.crt']),
    ]);
  });

  it('maps the CSI identity flags', () => {
    const pod = secretProviderClass();
    const params = (pod.spec as { parameters: Record<string, string> }).parameters;
    (pod.spec as { parameters: Record<string, string> }).parameters = { objects: params.objects!, keyvaultName: 'kvname', usePodIdentity: 'true' };
    expect(ok(parseKeyVaultSync(migrate(pod))).identity).toEqual({ mode: 'podIdentity', identityRef: undefined, clientID: undefined });
    const vm = secretProviderClass();
    (vm.spec as { parameters: Record<string, string> }).parameters = { objects: params.objects!, keyvaultName: 'kvname', useVMManagedIdentity: 'True', userAssignedIdentityID: CLIENT_ID };
    expect(ok(parseKeyVaultSync(migrate(vm))).identity).toEqual({ mode: 'managedIdentity', identityRef: undefined, clientID: CLIENT_ID });
  });

  it('warns about parameters it ignores', () => {
    const spc = secretProviderClass();
    const params = (spc.spec as { parameters: Record<string, string> }).parameters;
    params.resourceGroup = 'rg';
    params.frobnicate = 'x';
    expect(ok(parseKeyVaultSync(migrate(spc))) && parseKeyVaultSync(migrate(spc)).warnings).toEqual([
      'spec.parameters.resourceGroup is ignored by kvsync',
      'spec.parameters.frobnicate is not an Azure provider parameter kvsync knows; ignored',
    ]);
  });
});

describe('parseKeyVaultIdentity', () => {
  it('accepts a valid identity', () => {
    const r = parseKeyVaultIdentity(keyVaultIdentity(keyVaultIdentitySpec()));
    expect(r.ok && r.value).toEqual({ name: 'shared-kv-reader', spec: keyVaultIdentitySpec() });
  });

  it('rejects a bad client ID, type and vault pattern', () => {
    const spec = { ...keyVaultIdentitySpec(), type: 'servicePrincipal', clientID: 'nope', allowedVaults: ['not a vault'] };
    expect(issuesOf(parseKeyVaultIdentity(keyVaultIdentity(spec))).map((i) => i.path)).toEqual(['spec.type', 'spec.clientID', 'spec.allowedVaults[0]']);
  });
});

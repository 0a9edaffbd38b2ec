/**
 * src/keyvault against REAL parts: the run's kube-apiserver (Secrets, ServiceAccounts, TokenRequest,
 * Namespace labels) and the emulator (Entra ID with a federated credential trusting the apiserver's
 * ServiceAccount issuer, IMDS identities, Key Vault RBAC), through the real Azure SDK clients with TLS
 * and challenge-resource verification on. Every identity mode gets a token and fetches.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseKeyVaultIdentity, parseKeyVaultSync } from '../../../src/api/parse.ts';
import type { ResolvedKeyVaultIdentity } from '../../../src/api/parse.ts';
import type { ResolvedKeyVaultSync } from '../../../src/api/resolved.ts';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { CredentialProvider } from '../../../src/keyvault/credentials.ts';
import { KeyVaultAccess } from '../../../src/keyvault/access.ts';
import { fetchObjects } from '../../../src/keyvault/fetch.ts';
import { renderOutputs } from '../../../src/keyvault/outputs.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const DB_PASSWORD = 'db-pw-6f1c2a';
const SP_SECRET = 'sp-reader-secret-1';
const NOROLE_SECRET = 'sp-norole-secret-1';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let emu: RunningEmulator;
let env: AzureEnvironment;
let provider: CredentialProvider;
let namespace = '';
let otherNamespace = '';
let dir = '';
const access = new KeyVaultAccess();

function principal(name: string): { clientId: string } {
  const p = [...emu.config.servicePrincipals, ...emu.config.managedIdentities].find((x) => x.name === name);
  if (p === undefined) throw new Error(`no principal ${name}`);
  return p;
}

beforeAll(async () => {
  namespace = await createTestNamespace(kc, 'kv');
  otherNamespace = await createTestNamespace(kc, 'kv-other');
  dir = mkdtempSync(join(tmpdir(), 'kvsync-kv-it-'));
  const kubeCa = join(dir, 'kube-ca.pem');
  writeFileSync(kubeCa, inject('kubeCaPem'));
  emu = await startEmulator({
    stateDir: join(dir, 'state'),
    log: () => undefined,
    configDocument: {
      vaults: [
        {
          name: 'devkv',
          secrets: [
            { name: 'db-password', value: DB_PASSWORD },
            { name: 'switched-off', value: 'x', enabled: false },
            { name: 'not-really-pem', value: 'plain text, no PEM', contentType: 'application/x-pem-file' },
          ],
          certificates: [
            { name: 'web-tls', issuer: 'EmulatorTestCA', subject: 'CN=localhost', dnsNames: ['localhost'], contentType: 'application/x-pkcs12' },
            { name: 'ec-tls', issuer: 'EmulatorTestCA', subject: 'CN=ec.example', dnsNames: ['ec.example'], keyType: 'EC', curve: 'P-256', contentType: 'application/x-pem-file' },
          ],
        },
      ],
      servicePrincipals: [
        { name: 'sp-reader', secrets: [SP_SECRET] },
        { name: 'sp-norole', secrets: [NOROLE_SECRET] },
        { name: 'sp-cert-public', secrets: [SP_SECRET] },
        { name: 'wi-app', federatedCredentials: [{ issuer: inject('serviceAccountIssuer'), subject: `system:serviceaccount:${namespace}:web` }] },
      ],
      managedIdentities: [{ name: 'pod-id' }, { name: 'node-id' }],
      imds: { identities: ['pod-id', 'node-id'] },
      roleAssignments: [
        { principal: 'sp-reader', role: 'Key Vault Secrets User', vault: 'devkv' },
        { principal: 'sp-reader', role: 'Key Vault Certificate User', vault: 'devkv' },
        { principal: 'sp-cert-public', role: 'Key Vault Reader', vault: 'devkv' },
        { principal: 'wi-app', role: 'Key Vault Secrets User', vault: 'devkv' },
        { principal: 'pod-id', role: 'Key Vault Secrets User', vault: 'devkv' },
        { principal: 'node-id', role: 'Key Vault Secrets User', vault: 'devkv' },
      ],
      trustedIssuerCaFiles: [kubeCa],
    },
  });
  env = await loadAzureEnvironment({ endpointsFile: join(dir, 'state', 'endpoints.json'), env: {} });
  provider = new CredentialProvider({ kube: kc, env });

  const secretOf = (clientId: string, secret: string) => ({ clientid: Buffer.from(clientId).toString('base64'), clientsecret: Buffer.from(secret).toString('base64') });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'sp-reader' }, data: secretOf(principal('sp-reader').clientId, SP_SECRET) } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'sp-norole' }, data: secretOf(principal('sp-norole').clientId, NOROLE_SECRET) } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'sp-cert-public' }, data: secretOf(principal('sp-cert-public').clientId, SP_SECRET) } });
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'web', annotations: { 'azure.workload.identity/client-id': principal('wi-app').clientId } } } });
  await core.patchNamespace({ name: namespace, body: { metadata: { labels: { 'kvsync.dev/kv-reader': 'yes' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
});

afterAll(async () => {
  await emu.stop();
  env.agent?.destroy();
  rmSync(dir, { recursive: true, force: true });
  await deleteTestNamespace(kc, namespace);
  await deleteTestNamespace(kc, otherNamespace);
});

function sync(identity: Record<string, unknown>, extra: Record<string, unknown> = {}, ns = namespace): ResolvedKeyVaultSync {
  const r = parseKeyVaultSync({
    apiVersion: 'kvsync.dev/v1alpha1',
    kind: 'KeyVaultSync',
    metadata: { name: 'it', namespace: ns },
    spec: {
      vault: { name: 'devkv', url: emu.endpoints.vaults.devkv, tenantID: emu.endpoints.tenantID },
      identity,
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName: 'db', data: [{ objectName: 'db-password', key: 'PASSWORD' }] }],
      ...extra,
    },
  }, env);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function identity(name: string, spec: Record<string, unknown>): ResolvedKeyVaultIdentity {
  const r = parseKeyVaultIdentity({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultIdentity', metadata: { name }, spec });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

async function fetchPassword(s: ResolvedKeyVaultSync, ctx: { namespace: string; identities: ResolvedKeyVaultIdentity[] }): Promise<string | undefined> {
  const { credential } = await provider.credentialFor(s, ctx);
  const result = await fetchObjects(s, credential, env, { access });
  expect(result.failures).toEqual([]);
  return renderOutputs(s, result.fetched).secrets[0]?.data.PASSWORD?.toString('utf8');
}

describe('identity modes against the emulator and the real apiserver', () => {
  it('servicePrincipal: client ID/secret from a Secret in the namespace', async () => {
    expect(await fetchPassword(sync({ servicePrincipal: { secretRef: { name: 'sp-reader' } } }), { namespace, identities: [] })).toBe(DB_PASSWORD);
  });

  it('workloadIdentity: a real TokenRequest for the ServiceAccount, exchanged at Entra through the federated credential', async () => {
    const s = sync({ workloadIdentity: { serviceAccountName: 'web' } });
    expect(await fetchPassword(s, { namespace, identities: [] })).toBe(DB_PASSWORD);
    // The credential is reused on the next reconcile.
    const again = await provider.credentialFor(s, { namespace, identities: [] });
    expect(again.identityKey).toContain(`${namespace}/web`);
    expect((await provider.credentialFor(s, { namespace, identities: [] })).credential).toBe(again.credential);
  });

  it('tokens are reused across reconciles: five reconciles per identity cost one token request each', async () => {
    const tokens = (op: string): number => emu.counters.list().filter((c) => c.vault === '' && c.operation === op && c.status === 200).reduce((n, c) => n + c.count, 0);
    const shared = identity('reuse', { type: 'podIdentity', clientID: principal('pod-id').clientId, tenantID: emu.endpoints.tenantID, allowedNamespaces: { names: [namespace] }, allowedVaults: ['*'] });
    // A fresh provider, so that no credential (and no token) is cached yet.
    const fresh = new CredentialProvider({ kube: kc, env });
    const wi = sync({ workloadIdentity: { serviceAccountName: 'web' } });
    const pod = sync({ podIdentity: { identityRef: 'reuse' } });
    const entraBefore = tokens('token');
    const imdsBefore = tokens('imdsToken');
    for (let i = 0; i < 5; i++) {
      for (const [s, identities] of [
        [wi, []],
        [pod, [shared]],
      ] as const) {
        const { credential } = await fresh.credentialFor(s, { namespace, identities: [...identities] });
        expect((await fetchObjects(s, credential, env, { access })).failures).toEqual([]);
      }
    }
    expect(fresh.size).toBe(2);
    expect(tokens('token') - entraBefore).toBe(1);
    expect(tokens('imdsToken') - imdsBefore).toBe(1);
  });

  it('workloadIdentity: a ServiceAccount the federated credential does not name is refused (AuthenticationFailed)', async () => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'intruder', annotations: { 'azure.workload.identity/client-id': principal('wi-app').clientId } } } });
    const s = sync({ workloadIdentity: { serviceAccountName: 'intruder' } });
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { failures } = await fetchObjects(s, credential, env, { access });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'AuthenticationFailed', object: 'db-password' });
    expect(failures[0]?.message).toMatch(/AADSTS700213/);
  });

  it('podIdentity: through a KeyVaultIdentity whose selector matches the namespace labels; token from IMDS', async () => {
    const shared = identity('shared-reader', {
      type: 'podIdentity',
      clientID: principal('pod-id').clientId,
      tenantID: emu.endpoints.tenantID,
      allowedNamespaces: { selector: { matchLabels: { 'kvsync.dev/kv-reader': 'yes' } } },
      allowedVaults: ['devkv'],
    });
    expect(await fetchPassword(sync({ podIdentity: { identityRef: 'shared-reader' } }), { namespace, identities: [shared] })).toBe(DB_PASSWORD);
  });

  it('managedIdentity: CSI-style (no ref) picks the KeyVaultIdentity granting the namespace by name and the vault by URL', async () => {
    const node = identity('kubelet', {
      type: 'managedIdentity',
      clientID: principal('node-id').clientId,
      tenantID: emu.endpoints.tenantID,
      allowedNamespaces: { names: [namespace] },
      allowedVaults: [emu.endpoints.vaults.devkv ?? ''],
    });
    // A migrated SecretProviderClass: useVMManagedIdentity + userAssignedIdentityID, no identityRef.
    const migrated = parseKeyVaultSync({
      apiVersion: 'kvsync.dev/v1alpha1',
      kind: 'KeyVaultSync',
      metadata: { name: 'spc', namespace },
      spec: {
        vault: { url: emu.endpoints.vaults.devkv },
        parameters: { keyvaultName: 'devkv', tenantID: emu.endpoints.tenantID, useVMManagedIdentity: 'true', userAssignedIdentityID: principal('node-id').clientId, objects: 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n' },
        secretObjects: [{ secretName: 'db', data: [{ objectName: 'db-password', key: 'PASSWORD' }] }],
      },
    }, env);
    if (!migrated.ok) throw new Error(migrated.error.message);
    expect(migrated.value.identity).toMatchObject({ mode: 'managedIdentity', identityRef: undefined });
    expect(await fetchPassword(migrated.value, { namespace, identities: [node] })).toBe(DB_PASSWORD);
  });

  it('a namespace the KeyVaultIdentity does not grant is refused with IdentityNotPermitted', async () => {
    const shared = identity('shared-reader', {
      type: 'podIdentity',
      clientID: principal('pod-id').clientId,
      tenantID: emu.endpoints.tenantID,
      allowedNamespaces: { selector: { matchLabels: { 'kvsync.dev/kv-reader': 'yes' } } },
      allowedVaults: ['devkv'],
    });
    await expect(provider.credentialFor(sync({ podIdentity: { identityRef: 'shared-reader' } }, {}, otherNamespace), { namespace: otherNamespace, identities: [shared] })).rejects.toMatchObject({
      reason: 'IdentityNotPermitted',
      message: expect.stringContaining(`KeyVaultIdentity "shared-reader" does not grant namespace "${otherNamespace}"`) as string,
    });
  });

  it('a principal without a role assignment gets VaultAccessDenied naming vault and object', async () => {
    const s = sync({ servicePrincipal: { secretRef: { name: 'sp-norole' } } });
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(fetched).toEqual([]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'VaultAccessDenied', object: 'db-password', optional: false });
    expect(failures[0]?.message).toContain('vault "devkv"');
    expect(failures[0]?.message).not.toContain(DB_PASSWORD);
  });
});

describe('objects', () => {
  it('missing and disabled objects: ObjectNotFound / ObjectDisabled; an optional one is flagged', async () => {
    const s = sync(
      { servicePrincipal: { secretRef: { name: 'sp-reader' } } },
      {
        objects: [
          { name: 'db-password', type: 'secret' },
          { name: 'no-such-secret', type: 'secret' },
          { name: 'switched-off', type: 'secret' },
          { name: 'maybe', type: 'secret', optional: true },
        ],
        secretObjects: [{ secretName: 'db', data: [{ objectName: 'db-password' }, { objectName: 'maybe' }] }],
      },
    );
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(fetched.map((f) => f.object.name)).toEqual(['db-password']);
    expect(failures.map((f) => [f.object, f.reason, f.optional]).sort()).toEqual([
      ['maybe', 'ObjectNotFound', true],
      ['no-such-secret', 'ObjectNotFound', false],
      ['switched-off', 'ObjectDisabled', false],
    ]);
    // The optional object's key is left out.
    expect(Object.keys(renderOutputs(s, fetched).secrets[0]?.data ?? {})).toEqual(['db-password']);
  });

  it('a 429 from the vault is Throttled with the server\'s Retry-After', async () => {
    const s = sync({ servicePrincipal: { secretRef: { name: 'sp-reader' } } });
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    // Warm the token first so that the fault hits the secret read.
    expect((await fetchObjects(s, credential, env, { access })).failures).toEqual([]);
    emu.traffic.addFault({ id: 'throttle-it', vault: 'devkv', operation: 'getSecret', kind: 'status', status: 429, retryAfterSeconds: 7, remaining: 5 });
    try {
      const { failures } = await fetchObjects(s, credential, env, { access, maxRetries: 0 });
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ reason: 'Throttled', object: 'db-password', retryAfterMs: 7000 });
    } finally {
      emu.traffic.clearFaults();
    }
  });

  it('key objects give the public key; versionHistory fetches the newest versions', async () => {
    const admin = clientsFor(emu);
    const key = await admin.keys.createRsaKey('signing', { keySize: 2048 });
    await admin.secrets.setSecret('rotating', 'v-one');
    emu.clock.shift(5_000); // distinct `created` seconds
    await admin.secrets.setSecret('rotating', 'v-two');
    const s = sync(
      { servicePrincipal: { secretRef: { name: 'sp-reader' } } },
      {
        objects: [
          { name: 'signing', type: 'key' },
          { name: 'rotating', type: 'secret', versionHistory: 2 },
        ],
        secretObjects: [{ secretName: 'out', data: [{ objectName: 'signing' }, { objectName: 'rotating' }] }],
      },
    );
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(failures).toEqual([]);
    const pem = fetched.find((f) => f.object.name === 'signing');
    expect(pem?.material.kind).toBe('publicKey');
    expect(createPublicKey(pem?.material.kind === 'publicKey' ? pem.material.pem : '').asymmetricKeyType).toBe('rsa');
    expect(pem?.version).toBe(key.properties.version);
    const history = fetched.filter((f) => f.object.name === 'rotating').map((f) => (f.material.kind === 'secret' ? f.material.value : ''));
    expect(history).toEqual(['v-two', 'v-one']);
    expect(renderOutputs(s, fetched).secrets[0]?.data.rotating?.toString()).toBe('v-two');
  });
});

describe('certificates', () => {
  let tlsServer: Server | undefined;
  afterAll(() => new Promise<void>((r) => (tlsServer === undefined ? r() : tlsServer.close(() => r()))));

  it('a chained certificate renders a kubernetes.io/tls Secret whose tls.crt passes a real TLS handshake', async () => {
    const s = sync(
      { servicePrincipal: { secretRef: { name: 'sp-reader' } } },
      { objects: [{ name: 'web-tls', type: 'certificate' }], secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', caCert: true, data: [{ objectName: 'web-tls' }] }] },
    );
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(failures).toEqual([]);
    const data = renderOutputs(s, fetched).secrets[0]?.data ?? {};
    const crt = data['tls.crt']?.toString('utf8') ?? '';
    const blocks = crt.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    expect(blocks).toHaveLength(2); // leaf + intermediate, root omitted
    const caBlocks = data['ca.crt']?.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const root = caBlocks.at(-1) ?? '';
    expect(new X509Certificate(root).checkIssued(new X509Certificate(root))).toBe(true);

    tlsServer = createServer({ cert: crt, key: data['tls.key']?.toString('utf8') ?? '' }, (sock) => sock.end('hello over tls'));
    await new Promise<void>((r) => tlsServer?.listen(0, '127.0.0.1', r));
    const port = (tlsServer.address() as AddressInfo).port;
    // The client trusts only the root: the handshake needs the intermediate from tls.crt.
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: root }, () => {
        let text = '';
        sock.on('data', (c: Buffer) => (text += c.toString('utf8')));
        sock.on('end', () => resolve(text));
      });
      sock.on('error', reject);
    });
    expect(reply).toBe('hello over tls');
  });

  it('an EC certificate (PEM content type) with keyFormat pkcs1 gets its traditional format, SEC1, matching the leaf', async () => {
    const s = sync(
      { servicePrincipal: { secretRef: { name: 'sp-reader' } } },
      { objects: [{ name: 'ec-tls', type: 'certificate' }], secretObjects: [{ secretName: 'ec-tls', type: 'kubernetes.io/tls', keyFormat: 'pkcs1', data: [{ objectName: 'ec-tls' }] }] },
    );
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(failures).toEqual([]);
    expect(fetched[0]?.contentType).toBe('application/x-pem-file');
    const data = renderOutputs(s, fetched).secrets[0]?.data ?? {};
    const key = data['tls.key']?.toString('utf8') ?? '';
    expect(key).toContain('-----BEGIN EC PRIVATE KEY-----');
    const leaf = new X509Certificate(data['tls.crt']?.toString('utf8') ?? '');
    expect(leaf.subject).toBe('CN=ec.example');
    expect(leaf.checkPrivateKey(createPrivateKey(key))).toBe(true);
  });

  it('a migrated SecretProviderClass reading the certificate as objectType secret fills a tls Secret', async () => {
    const migrated = parseKeyVaultSync({
      apiVersion: 'kvsync.dev/v1alpha1',
      kind: 'KeyVaultSync',
      metadata: { name: 'spc-tls', namespace },
      spec: {
        vault: { url: emu.endpoints.vaults.devkv },
        identity: { servicePrincipal: { secretRef: { name: 'sp-reader' } } },
        parameters: { keyvaultName: 'devkv', tenantID: emu.endpoints.tenantID, objects: 'array:\n  - |\n    objectName: web-tls\n    objectType: secret\n  - |\n    objectName: not-really-pem\n    objectType: secret\n' },
        secretObjects: [
          { secretName: 'spc-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'web-tls', key: 'tls.crt' }, { objectName: 'web-tls', key: 'tls.key' }] },
          { secretName: 'spc-raw', data: [{ objectName: 'not-really-pem', key: 'raw' }] },
        ],
      },
    }, env);
    if (!migrated.ok) throw new Error(migrated.error.message);
    const s = migrated.value;
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(failures).toEqual([]);
    const [tls, raw] = renderOutputs(s, fetched).secrets;
    expect(new X509Certificate(tls?.data['tls.crt']?.toString('utf8') ?? '').checkPrivateKey(createPrivateKey(tls?.data['tls.key']?.toString('utf8') ?? ''))).toBe(true);
    // A "PEM" secret that is not PEM is passed through as the CSI driver would mount it.
    expect(raw?.data.raw?.toString('utf8')).toBe('plain text, no PEM');
  });

  it('an identity that may read the certificate but not its secret falls back to the public cer (tls.crt only)', async () => {
    const s = sync(
      { servicePrincipal: { secretRef: { name: 'sp-cert-public' } } },
      { objects: [{ name: 'web-tls', type: 'certificate' }], configMapObjects: [{ configMapName: 'web-public', data: [{ objectName: 'web-tls', key: 'tls.crt' }] }], secretObjects: [] },
    );
    const { credential } = await provider.credentialFor(s, { namespace, identities: [] });
    const { fetched, failures } = await fetchObjects(s, credential, env, { access });
    expect(failures).toEqual([]);
    expect(fetched[0]?.material).toMatchObject({ kind: 'certificate', secretValue: undefined });
    const cm = renderOutputs(s, fetched).configMaps[0];
    expect(new X509Certificate(cm?.data['tls.crt'] ?? '').subject).toBe('CN=localhost');
  });
});

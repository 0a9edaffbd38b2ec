/**
 * Threat: every reconcile decodes a tenant's PKCS#12 objects again, so one expensive certificate costs
 * CPU on every refresh, force-sync and new generation, and once more for every output option
 * (`keyFormat`, `includeRoot`, `caCert`).
 *
 * Defence: decoded bundles are kept per (vault, object, version, content digest) across reconciles
 * (src/keyvault/bundle-cache.ts) and other options are derived from the kept bundle without decoding.
 * Proved with the production pipeline against the emulator: the second fresh fetch of the same version
 * really reads Key Vault again (the emulator counts it), and the controller's decoder decodes nothing
 * more, for the same KeyVaultSync, for another one with other options, and for another identity.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../src/api/install.ts';
import { parseKeyVaultSync } from '../../src/api/parse.ts';
import type { ResolvedKeyVaultSync } from '../../src/api/resolved.ts';
import { KeyVaultPipeline } from '../../src/keyvault/pipeline.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { admin, countOf, requestCounts } from '../integration/emulator/kv-support.ts';
import { createCredentialsSecret, SP_SECRET, startWorld, syncSpec, VAULT, type TestWorld } from '../integration/controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';

const kc = kubeConfig();
let world: TestWorld;
let env: AzureEnvironment;
let ns = '';
let pipeline: KeyVaultPipeline | undefined;

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld({ servicePrincipals: [{ name: 'second-app', secrets: [SP_SECRET] }], roleAssignments: [{ principal: 'second-app', role: 'Key Vault Secrets User', vault: VAULT }] });
  env = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
  ns = await createTestNamespace(kc, 'sec-bundles');
  await createCredentialsSecret(kc, ns, world);
  const second = world.emu.config.servicePrincipals.find((p) => p.name === 'second-app');
  if (second === undefined) throw new Error('second-app missing from the emulator config');
  await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'kv-creds-2' }, stringData: { clientid: second.clientId, clientsecret: SP_SECRET } } });
});

afterAll(async () => {
  pipeline?.close();
  env?.agent?.destroy();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
});

/** A KeyVaultSync writing the certificate `shop-tls` as a kubernetes.io/tls Secret with `tls` options. */
function certificateSync(name: string, tls: Record<string, unknown>, credsSecret = 'kv-creds'): ResolvedKeyVaultSync {
  const spec = syncSpec(world, {
    objects: [{ name: 'shop-tls', type: 'certificate' }],
    secretObjects: [{ secretName: name, type: 'kubernetes.io/tls', ...tls, data: [{ objectName: 'shop-tls' }] }],
    identity: { servicePrincipal: { secretRef: { name: credsSecret } } },
  });
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name, namespace: ns }, spec }, env);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** One reconcile's Key Vault part: credential, a fresh fetch, render. */
async function reconcile(p: KeyVaultPipeline, sync: ResolvedKeyVaultSync): Promise<string> {
  const auth = await p.credentialFor(sync, { namespace: ns, identities: [] });
  const result = await p.fetchShared(sync, auth, { fresh: true });
  expect(result.failures).toEqual([]);
  const tls = p.renderOutputs(sync, result.fetched).secrets[0]?.data['tls.key']?.toString('utf8') ?? '';
  return tls.split('\n')[0] ?? '';
}

const getSecrets = async (): Promise<number> => countOf(await requestCounts(world.emu), 'getSecret', 200, VAULT);

describe('threat: every reconcile decodes PKCS#12 again', () => {
  it('a second reconcile of the same version, other options, another identity: no decode', async () => {
    // freshWindowMs 0: every fresh fetch reads Key Vault again, as a force-sync or a new generation does.
    const p = (pipeline = new KeyVaultPipeline(kc, env, { freshWindowMs: 0, changeDetection: { enabled: false } }));
    expect((await admin(world.emu, 'DELETE', '/requests')).status).toBe(204);

    expect(await reconcile(p, certificateSync('first', {}))).toBe('-----BEGIN PRIVATE KEY-----');
    expect(p.decodeStats.pool.decoded).toBe(1);
    const readsAfterFirst = await getSecrets();

    expect(await reconcile(p, certificateSync('first', {}))).toBe('-----BEGIN PRIVATE KEY-----');
    expect(await reconcile(p, certificateSync('variant', { keyFormat: 'pkcs1', includeRoot: true, caCert: true }))).toBe('-----BEGIN RSA PRIVATE KEY-----');
    expect(await reconcile(p, certificateSync('other-identity', {}, 'kv-creds-2'))).toBe('-----BEGIN PRIVATE KEY-----');

    // Key Vault was read again each time (the reads were not simply kept)…
    expect(await getSecrets()).toBeGreaterThanOrEqual(readsAfterFirst + 3);
    // …and the certificate was decoded once.
    expect(p.decodeStats.pool.decoded).toBe(1);
    expect(p.decodeStats.cache.hits).toBeGreaterThanOrEqual(3);
  });
});

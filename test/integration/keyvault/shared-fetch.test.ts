/**
 * One Key Vault read per object, counted by the emulator's request counters
 * (`GET <adminUrl>/requests`), not by kvsync's own claims:
 * - two KeyVaultSyncs fetched at once through one KeyVaultPipeline share one `getSecret`;
 * - a different identity reads for itself; a KeyVaultSync's own next fetch reads again; a pinned version
 *   is read once; after the latest TTL a new read is made;
 * - the controller (real control plane) syncing two KeyVaultSyncs that share an object reads it once.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import { parseKeyVaultSync } from '../../../src/api/parse.ts';
import type { ResolvedKeyVaultSync } from '../../../src/api/resolved.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { KeyVaultPipeline } from '../../../src/keyvault/pipeline.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { admin, clientsFor, countOf, requestCounts } from '../emulator/kv-support.ts';
import { conditionOf, createCredentialsSecret, runController, SP_SECRET, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from '../controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let world: TestWorld;
let env: AzureEnvironment;
let ns = '';
let opNs = '';

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld({ servicePrincipals: [{ name: 'second-app', secrets: [SP_SECRET] }], roleAssignments: [{ principal: 'second-app', role: 'Key Vault Secrets User', vault: VAULT }] });
  env = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
  ns = await createTestNamespace(kc, 'kv-shared');
  opNs = await createTestNamespace(kc, 'kv-shared-op');
  await createCredentialsSecret(kc, ns, world);
  const second = world.emu.config.servicePrincipals.find((p) => p.name === 'second-app');
  if (second === undefined) throw new Error('second-app missing from the emulator config');
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'kv-creds-2' }, stringData: { clientid: second.clientId, clientsecret: SP_SECRET } } });
});

/** Pipelines made by the tests: closed at the end (their change detectors stop polling). */
const pipelines: KeyVaultPipeline[] = [];
const newPipeline = (freshWindowMs: number): KeyVaultPipeline => {
  const p = new KeyVaultPipeline(kc, env, { freshWindowMs });
  pipelines.push(p);
  return p;
};

afterAll(async () => {
  for (const p of pipelines) p.close();
  env?.agent?.destroy();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
});

function resolved(name: string, objects: Record<string, unknown>[], credsSecret = 'kv-creds'): ResolvedKeyVaultSync {
  const spec = syncSpec(world, { objects, secretObjects: [{ secretName: name, data: objects.map((o) => ({ objectName: o.name, key: String(o.name) })) }] });
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name, namespace: ns }, spec: { ...spec, identity: { servicePrincipal: { secretRef: { name: credsSecret } } } } }, env);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

async function resetCounters(): Promise<void> {
  expect((await admin(world.emu, 'DELETE', '/requests')).status).toBe(204);
}

let adminClients: ReturnType<typeof clientsFor> | undefined;
const vaultClients = (): ReturnType<typeof clientsFor> => (adminClients ??= clientsFor(world.emu));

const getSecrets = async (): Promise<number> => countOf(await requestCounts(world.emu), 'getSecret', 200, VAULT);

async function fetchOk(pipeline: KeyVaultPipeline, sync: ResolvedKeyVaultSync): Promise<string[]> {
  const auth = await pipeline.credentialFor(sync, { namespace: ns, identities: [] });
  const result = await pipeline.fetchShared(sync, auth);
  expect(result.failures).toEqual([]);
  return result.fetched.map((f) => f.version);
}

describe('one fetch per object', () => {
  it('two KeyVaultSyncs fetched at once through one pipeline cause one getSecret; another identity reads for itself', async () => {
    const pipeline = newPipeline(60_000);
    const a = resolved('a', [{ name: 'db-password', type: 'secret' }]);
    const b = resolved('b', [{ name: 'db-password', type: 'secret' }]);
    // Credentials (and tokens) first, so that only Key Vault reads are counted below.
    await fetchOk(pipeline, resolved('warm', [{ name: 'api-token', type: 'secret' }]));
    await fetchOk(pipeline, resolved('warm2', [{ name: 'api-token', type: 'secret' }], 'kv-creds-2'));
    await resetCounters();

    const [va, vb] = await Promise.all([fetchOk(pipeline, a), fetchOk(pipeline, b)]);
    expect(va).toEqual(vb);
    expect(await getSecrets()).toBe(1);
    // A third KeyVaultSync a moment later, within the TTL: still one read.
    await fetchOk(pipeline, resolved('a2', [{ name: 'db-password', type: 'secret' }]));
    expect(await getSecrets()).toBe(1);
    // Another identity never gets what the first one read.
    await fetchOk(pipeline, resolved('c', [{ name: 'db-password', type: 'secret' }], 'kv-creds-2'));
    expect(await getSecrets()).toBe(2);
    // A KeyVaultSync's own next fetch (a refresh, a force-sync) never gets the read its last fetch got.
    await fetchOk(pipeline, a);
    expect(await getSecrets()).toBe(3);
  });

  it('a pinned version is read once (not at all when it was read as the current one); a latest read is shared within the fresh window', async () => {
    const pipeline = newPipeline(2_000);
    const latest = resolved('latest', [{ name: 'db-password', type: 'secret' }]);
    await fetchOk(pipeline, resolved('warm', [{ name: 'api-token', type: 'secret' }]));
    await resetCounters();
    const [version] = await fetchOk(pipeline, latest);
    if (version === undefined) throw new Error('no version fetched');
    // A KeyVaultSync fetching for the first time within the fresh window shares that read.
    await fetchOk(pipeline, resolved('first', [{ name: 'db-password', type: 'secret' }]));
    expect(await getSecrets()).toBe(1);
    // The version just read as the current one is that version, pinned: no read of its own.
    const pinned = resolved('pinned', [{ name: 'db-password', type: 'secret', version }]);
    await fetchOk(pipeline, pinned);
    await fetchOk(pipeline, pinned);
    expect(await getSecrets()).toBe(1);
    // Once the fresh window has passed, a fresh fetch reads again (polled, no fixed sleep).
    let n = 0;
    await pollUntil(
      async () => {
        await fetchOk(pipeline, resolved(`later-${++n}`, [{ name: 'db-password', type: 'secret' }]));
        return (await getSecrets()) >= 2 ? true : undefined;
      },
      { ...WAIT, description: 'a new getSecret after the fresh window' },
    );
    expect(await getSecrets()).toBe(2);
    // The pinned version is never read again for its value; another pinned version is read once.
    await fetchOk(pipeline, pinned);
    expect(await getSecrets()).toBe(2);
    const older = (await vaultClients().secrets.setSecret('pin-me', 'first')).properties.version ?? '';
    await vaultClients().secrets.setSecret('pin-me', 'second');
    const pinnedOlder = resolved('pinned-older', [{ name: 'pin-me', type: 'secret', version: older }]);
    await fetchOk(pipeline, pinnedOlder);
    await fetchOk(pipeline, pinnedOlder);
    expect(await getSecrets()).toBe(3);
  });

  it('the controller syncing two KeyVaultSyncs that share an object reads it once', async () => {
    const syncs = syncApi(kc);
    const objects = [{ name: 'db-password', type: 'secret' }];
    for (const name of ['shared-1', 'shared-2']) {
      await syncs.create(ns, name, syncSpec(world, { objects, secretObjects: [{ secretName: name, data: [{ objectName: 'db-password', key: 'PASSWORD' }] }], refreshInterval: '1h' }));
    }
    await resetCounters();
    let controller: RunningController | undefined;
    try {
      const pipeline = newPipeline(60_000);
      controller = await runController(kc, world, { namespace: opNs, watchNamespace: ns, healthAddr: '127.0.0.1:0', pipeline });
      for (const name of ['shared-1', 'shared-2']) {
        await pollUntil(async () => (conditionOf(await syncs.get(ns, name), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: `${name} Ready=True` });
        const secret = await core.readNamespacedSecret({ name, namespace: ns });
        expect(secret.data?.PASSWORD).toBe(Buffer.from('correct-horse-battery-staple').toString('base64'));
      }
      expect(await getSecrets()).toBe(1);
    } finally {
      await controller?.stop();
    }
  });
});

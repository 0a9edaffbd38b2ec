/**
 * ClusterKeyVaultSync on the real apiserver (with its garbage collector) and the Key Vault emulator:
 * the docs/api.md example applied as written; Secrets in every selected namespace and none elsewhere;
 * one value read per object whatever the number of namespaces; namespaces that start and stop
 * matching; deletionPolicy both ways; a tenant's edit repaired and a tenant's KeyVaultSync refused.
 *
 * The controller serves ClusterKeyVaultSyncs (fanOut) but KeyVaultSyncs of the tenant namespace only,
 * so it never touches other test files' KeyVaultSyncs on the shared apiserver; every namespace here
 * is selected by a label unique to this run.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_MSG } from '../../../src/api/clusterkeyvaultsync-schema.ts';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import { MERGE_FROM_ANNOTATION, OWNER_UID_ANNOTATION } from '../../../src/api/secret-ownership.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import type { ClusterKeyVaultSyncObject } from '../../../src/controller/fan-out.ts';
import { FORCE_SYNC_ANNOTATION } from '../../../src/controller/labels.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { apiExample, renderExample } from './doc-example.ts';
import { createCredentialsSecret, readyCondition, runController, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from './support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const syncs = syncApi(kc);
const run = Math.random().toString(36).slice(2, 8);
/** The label this run's namespaces are selected by. */
const LABEL = `fanout-${run}`;
const base = { group: GROUP, version: VERSION, plural: 'clusterkeyvaultsyncs' };

let world: TestWorld;
let controller: RunningController;
let opNs = '';
/** The tenant namespace: selected, and the one whose KeyVaultSyncs the controller serves. */
let tenant = '';
const namespaces: string[] = [];
const clusterSyncs: string[] = [];

async function namespace(prefix: string, labels: Record<string, string>): Promise<string> {
  const name = `${prefix}-${run}-${Math.random().toString(36).slice(2, 6)}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'kvsync.dev/test': 'true', ...labels } } } });
  namespaces.push(name);
  return name;
}

async function label(ns: string, labels: Record<string, string | null>): Promise<void> {
  await core.patchNamespace({ name: ns, body: { metadata: { labels } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
}

async function secret(ns: string, name: string): Promise<k8s.V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace: ns, name });
  } catch (err) {
    if (err instanceof k8s.ApiException && err.code === 404) return undefined;
    throw err;
  }
}

function value(s: k8s.V1Secret | undefined, key: string): string | undefined {
  const v = s?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

async function until<T>(description: string, probe: () => Promise<T | undefined>): Promise<T> {
  return pollUntil(probe, { timeoutMs: 60_000, intervalMs: 250, description });
}

async function createCluster(name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createClusterCustomObject({ ...base, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterKeyVaultSync', metadata: { name }, spec }, fieldValidation: 'Strict' });
  clusterSyncs.push(name);
}

async function getCluster(name: string): Promise<ClusterKeyVaultSyncObject> {
  return (await custom.getClusterCustomObject({ ...base, name })) as ClusterKeyVaultSyncObject;
}

async function patchCluster(name: string, body: Record<string, unknown>): Promise<void> {
  await custom.patchClusterCustomObject({ ...base, name, body }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
}

/** Waits until the current generation is Ready with `synced` namespaces; returns the object. */
async function syncedInto(name: string, synced: number): Promise<ClusterKeyVaultSyncObject> {
  return until(`${name} Ready with ${synced} namespaces`, async () => {
    const o = await getCluster(name);
    const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.status === 'True' && ready.observedGeneration === o.metadata?.generation && o.status?.syncedNamespaces === synced && o.status.matchedNamespaces === synced ? o : undefined;
  });
}

async function deleteInForeground(name: string): Promise<void> {
  await custom.deleteClusterCustomObject({ ...base, name, propagationPolicy: 'Foreground' });
  await until(`${name} gone`, async () => {
    try {
      await getCluster(name);
      return undefined;
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return true;
      throw err;
    }
  });
}

/** The spec of a ClusterKeyVaultSync selecting `selector` (servicePrincipal from the controller's namespace). */
function clusterSpec(selector: Record<string, unknown>, rest: Record<string, unknown>): Record<string, unknown> {
  return { namespaceSelector: selector, ...syncSpec(world, rest) };
}

const dbObjects = { objects: [{ name: 'db-password' }], secretObjects: [{ secretName: 'team-db', data: [{ objectName: 'db-password', key: 'password' }] }] };

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  opNs = await createTestNamespace(kc, 'fanout-op');
  await createCredentialsSecret(kc, opNs, world);
  tenant = await namespace('fanout-tenant', { [LABEL]: 'on' });
  await createCredentialsSecret(kc, tenant, world);
  controller = await runController(kc, world, { namespace: opNs, watchNamespace: tenant, fanOut: true, healthAddr: '127.0.0.1:0' });
});

afterAll(async () => {
  for (const name of clusterSyncs) await custom.deleteClusterCustomObject({ ...base, name }).catch(() => undefined);
  await controller.stop();
  await world.emu.stop();
  for (const ns of [...namespaces, opNs]) await deleteTestNamespace(kc, ns).catch(() => undefined);
});

describe('ClusterKeyVaultSync', () => {
  it('the apiserver refuses what belongs to a namespace owner, with parseClusterKeyVaultSync\'s messages', async () => {
    const refusal = async (spec: Record<string, unknown>): Promise<string> => {
      const err = await custom.createClusterCustomObject({ ...base, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterKeyVaultSync', metadata: { name: `refused-${run}` }, spec }, dryRun: 'All' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(k8s.ApiException);
      return String((err as k8s.ApiException<unknown>).body);
    };
    const selector = { matchLabels: { [LABEL]: 'on' } };
    expect(await refusal(clusterSpec(selector, { ...dbObjects, restartTargets: [{ kind: 'Deployment', name: 'web' }] }))).toContain(CLUSTER_MSG.namespacedOnly);
    const merge = { ...dbObjects, secretObjects: [{ ...dbObjects.secretObjects[0], creationPolicy: 'Merge' }] };
    expect(await refusal(clusterSpec(selector, merge))).toContain(CLUSTER_MSG.ownerOnly);
    expect(await refusal(syncSpec(world, dbObjects))).toContain('namespaceSelector');
  });

  it('the docs/api.md example, applied as written: its Secret in the two labelled namespaces, not in a third', { timeout: 180_000 }, async () => {
    const example = apiExample('namespaceSelector');
    const selector = (example.spec as { namespaceSelector: { matchLabels: Record<string, string> } }).namespaceSelector.matchLabels;
    const [a, b] = [await namespace('fanout-ex-a', selector), await namespace('fanout-ex-b', selector)];
    const other = await namespace('fanout-ex-c', {});
    // The example as written, under a name unique to this run (cluster-scoped names are shared).
    const name = `${String((example.metadata as { name: string }).name)}-${run}`;
    await custom.createClusterCustomObject({ ...base, body: { ...example, metadata: { name } }, fieldValidation: 'Strict' });
    clusterSyncs.push(name);
    const status = await syncedInto(name, 2);
    expect(status.status?.failedNamespaces).toEqual([]);
    for (const ns of [a, b]) {
      const s = await secret(ns, 'wildcard-tls');
      expect(s?.type, ns).toBe('kubernetes.io/tls');
      expect(value(s, 'tls.crt'), ns).toContain('BEGIN CERTIFICATE');
      expect(s?.metadata?.ownerReferences?.map((r) => `${r.kind}/${r.uid}`), ns).toEqual([`ClusterKeyVaultSync/${status.metadata?.uid ?? ''}`]);
    }
    expect(await secret(other, 'wildcard-tls'), 'a namespace the selector does not select').toBeUndefined();
    // `kvsync render` prints the same Secret once, for every namespace.
    const rendered = (await renderExample(example, world.endpointsFile)).get('wildcard-tls');
    expect(rendered?.['tls.crt']).toBe(value(await secret(a, 'wildcard-tls'), 'tls.crt'));
    await custom.deleteClusterCustomObject({ ...base, name });
  });

  it('one value read per object per cycle, whatever the number of namespaces (1 object x 20 namespaces)', { timeout: 180_000 }, async () => {
    const selector = `fanout-many-${run}`;
    const many = [];
    for (let i = 0; i < 20; i++) many.push(await namespace(`fanout-many${i}`, { [selector]: 'on' }));
    await createCluster(`many-${run}`, clusterSpec({ matchLabels: { [selector]: 'on' } }, dbObjects));
    const first = await syncedInto(`many-${run}`, 20);
    for (const ns of many) expect(value(await secret(ns, 'team-db'), 'password'), ns).toBe('correct-horse-battery-staple');

    // A force-sync reads every object fresh: one read of the one object for all 20 namespaces.
    world.emu.counters.reset();
    await patchCluster(`many-${run}`, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'now' } } });
    await until('the force-sync written to status', async () => ((await getCluster(`many-${run}`)).status?.lastSyncTime !== first.status?.lastSyncTime ? true : undefined));
    const reads = world.emu.counters.list().filter((c) => c.vault === VAULT && c.operation === 'getSecret');
    expect(reads.reduce((n, c) => n + c.count, 0), JSON.stringify(world.emu.counters.list())).toBe(1);
    expect(controller.metrics.registry.getSingleMetric('kvsync_cluster_sync_namespaces')).toBeDefined();
    const scrape = await controller.metrics.registry.getSingleMetricAsString('kvsync_cluster_sync_namespaces');
    expect(scrape).toContain(`clusterkeyvaultsync="many-${run}",state="synced"} 20`);
  });

  it('a namespace that starts matching gets the Secrets; one that stops loses them (deletionPolicy Delete)', { timeout: 180_000 }, async () => {
    const key = `fanout-move-${run}`;
    const a = await namespace('fanout-move-a', { [key]: 'on' });
    const b = await namespace('fanout-move-b', {});
    await createCluster(`move-${run}`, clusterSpec({ matchLabels: { [key]: 'on' } }, dbObjects));
    await syncedInto(`move-${run}`, 1);
    expect(await secret(b, 'team-db')).toBeUndefined();

    await label(b, { [key]: 'on' });
    await until('the Secret in the namespace that started matching', async () => (value(await secret(b, 'team-db'), 'password') === 'correct-horse-battery-staple' ? true : undefined));
    await label(a, { [key]: null });
    await until('the Secret gone from the namespace that stopped matching', async () => ((await secret(a, 'team-db')) === undefined ? true : undefined));
    await syncedInto(`move-${run}`, 1);
    // A new namespace created with the label.
    const c = await namespace('fanout-move-c', { [key]: 'on' });
    await until('the Secret in a new matching namespace', async () => ((await secret(c, 'team-db')) !== undefined ? true : undefined));

    // Delete: the garbage collector removes the Secrets with the ClusterKeyVaultSync.
    await deleteInForeground(`move-${run}`);
    expect(await secret(b, 'team-db')).toBeUndefined();
    expect(await secret(c, 'team-db')).toBeUndefined();
  });

  it('deletionPolicy Retain: Secrets stay in a namespace that stops matching, and outlive the ClusterKeyVaultSync', { timeout: 180_000 }, async () => {
    const key = `fanout-keep-${run}`;
    const a = await namespace('fanout-keep-a', { [key]: 'on' });
    const b = await namespace('fanout-keep-b', { [key]: 'on' });
    await createCluster(`keep-${run}`, clusterSpec({ matchLabels: { [key]: 'on' } }, { ...dbObjects, deletionPolicy: 'Retain' }));
    const synced = await syncedInto(`keep-${run}`, 2);
    const s = await secret(a, 'team-db');
    expect(s?.metadata?.ownerReferences ?? []).toEqual([]);
    expect(s?.metadata?.annotations?.[OWNER_UID_ANNOTATION]).toBe(synced.metadata?.uid);

    await label(b, { [key]: null });
    await syncedInto(`keep-${run}`, 1);
    expect(value(await secret(b, 'team-db'), 'password'), 'Retain: left in the namespace that stopped matching').toBe('correct-horse-battery-staple');
    await deleteInForeground(`keep-${run}`);
    expect(value(await secret(a, 'team-db'), 'password'), 'Retain: outlives the ClusterKeyVaultSync').toBe('correct-horse-battery-staple');
  });

  it('tenants cannot change it: an edit is repaired, a KeyVaultSync of theirs cannot take the Secret over, a Secret of theirs is not taken over', { timeout: 180_000 }, async () => {
    const key = `fanout-own-${run}`;
    await label(tenant, { [key]: 'on' });
    await createCluster(`own-${run}`, clusterSpec({ matchLabels: { [key]: 'on' } }, dbObjects));
    const uid = (await syncedInto(`own-${run}`, 1)).metadata?.uid ?? '';
    expect(value(await secret(tenant, 'team-db'), 'password')).toBe('correct-horse-battery-staple');

    // A tenant's edit is repaired from the watch (the refresh is an hour away).
    await core.patchNamespacedSecret({ namespace: tenant, name: 'team-db', body: { data: { password: Buffer.from('tampered').toString('base64') } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await until('the edit repaired', async () => (value(await secret(tenant, 'team-db'), 'password') === 'correct-horse-battery-staple' ? true : undefined));

    // A namespace whose owner made a Secret of that name first: not taken over, listed as failed.
    const taken = await namespace('fanout-own-taken', {});
    await core.createNamespacedSecret({ namespace: taken, body: { metadata: { name: 'team-db' }, stringData: { mine: 'theirs' } } });
    await label(taken, { [key]: 'on' });
    const failed = await until('the taken namespace listed as failed', async () => {
      const o = await getCluster(`own-${run}`);
      return o.status?.matchedNamespaces === 2 && o.status.syncedNamespaces === 1 && (o.status.failedNamespaces ?? []).length === 1 ? o : undefined;
    });
    expect(failed.status?.failedNamespaces?.[0]).toMatchObject({ name: taken, reason: 'SecretConflict' });
    expect(failed.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NamespacesFailed' });
    expect((await secret(taken, 'team-db'))?.data, 'the tenant Secret is untouched').toEqual({ mine: Buffer.from('theirs').toString('base64') });

    // A tenant's KeyVaultSync naming the same Secret is refused and writes nothing.
    await syncs.create(tenant, 'takeover', syncSpec(world, { objects: [{ name: 'api-token' }], secretObjects: [{ secretName: 'team-db', data: [{ objectName: 'api-token', key: 'password' }] }] }));
    const refused = await readyCondition(kc, tenant, 'takeover', 'False');
    expect(refused.reason).toBe('SecretConflict');
    const after = await secret(tenant, 'team-db');
    expect(value(after, 'password')).toBe('correct-horse-battery-staple');
    expect(after?.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([uid]);
    await syncs.delete(tenant, 'takeover');

    // Not with Merge either, even with the tenant's own consent on the Secret.
    await core.patchNamespacedSecret({ namespace: tenant, name: 'team-db', body: { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: 'merge-takeover' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await syncs.create(tenant, 'merge-takeover', syncSpec(world, { objects: [{ name: 'api-token' }], secretObjects: [{ secretName: 'team-db', creationPolicy: 'Merge', data: [{ objectName: 'api-token', key: 'token' }] }] }));
    expect((await readyCondition(kc, tenant, 'merge-takeover', 'False')).reason).toBe('SecretConflict');
    expect(Object.keys((await secret(tenant, 'team-db'))?.data ?? {}), 'no key merged in').toEqual(['password']);
    await syncs.delete(tenant, 'merge-takeover');
  });
});

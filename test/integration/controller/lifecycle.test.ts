/**
 * Lifecycle policies on the real apiserver (with its garbage collector) and the Key Vault emulator:
 * keys and Secrets that leave the spec are pruned, and `deletionPolicy` decides whether the Secrets
 * outlive their KeyVaultSync. The Retain case is the worked example of docs/api.md, applied as written.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { OWNER_UID_ANNOTATION } from '../../../src/api/secret-ownership.ts';
import { pageExamples } from '../../../src/api/testing/doc-examples.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { kubeConfig } from '../support/kube.ts';
import { readyCondition, secretIfAny, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from './support.ts';

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const syncs = syncApi(kc);
let fx: OperatorFixture;

beforeAll(async () => {
  fx = await startOperatorFixture(kc, 'lifecycle');
});

afterAll(async () => {
  await fx.stop();
});

function secret(name: string): Promise<k8s.V1Secret | undefined> {
  return secretIfAny(kc, fx.ns, name);
}

/** Waits until the KeyVaultSync synced generation `generation` and wrote exactly `names`. */
async function syncedAs(name: string, names: string[]): Promise<void> {
  await pollUntil(
    async () => {
      const obj = await syncs.get(fx.ns, name);
      const ready = obj.status?.conditions?.find((c) => c.type === 'Ready');
      const done = ready?.status === 'True' && ready.observedGeneration === obj.metadata?.generation && JSON.stringify((obj.status?.secrets ?? []).map((s) => s.name)) === JSON.stringify(names);
      return done ? true : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 200, description: `${name} synced with Secrets ${names.join(', ')}` },
  );
}

/** Deletes a KeyVaultSync in the foreground: it is gone only once the garbage collector removed what it owns. */
async function deleteInForeground(name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: fx.ns, name, propagationPolicy: 'Foreground' });
  await pollUntil(
    async () => {
      try {
        await syncs.get(fx.ns, name);
        return undefined;
      } catch (err) {
        if (err instanceof k8s.ApiException && err.code === 404) return true;
        throw err;
      }
    },
    { timeoutMs: 60_000, intervalMs: 200, description: `KeyVaultSync ${name} gone` },
  );
}

function keys(s: k8s.V1Secret | undefined): string[] {
  return Object.keys(s?.data ?? {}).sort();
}

describe('lifecycle: pruning and deletionPolicy', () => {
  it('the docs/api.md example (Retain): a dropped key is pruned, a dropped Secret and the rest outlive the KeyVaultSync', async () => {
    const example = pageExamples('api.md').flatMap((e) => e.objects).find((o) => (o.spec as { deletionPolicy?: string } | undefined)?.deletionPolicy === 'Retain');
    if (example === undefined) throw new Error('docs/api.md has no deletionPolicy: Retain example');
    const body = { ...example, metadata: { ...(example.metadata as Record<string, unknown>), namespace: fx.ns } };
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: fx.ns, body, fieldValidation: 'Strict' });
    await readyCondition(kc, fx.ns, 'shop-config', 'True');
    const kvs = await syncs.get(fx.ns, 'shop-config');
    const db = await secret('shop-db');
    expect(keys(db)).toEqual(['API_TOKEN', 'DB_PASSWORD']);
    // Retain: ownership by the owner-uid annotation, no owner reference for the garbage collector.
    expect(db?.metadata?.ownerReferences ?? []).toEqual([]);
    expect(db?.metadata?.annotations?.[OWNER_UID_ANNOTATION]).toBe(kvs.metadata?.uid);
    expect(await secret('shop-api')).toBeDefined();

    // `kubectl get kvs -o wide`: the DELETION column.
    const table = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: fx.ns, name: 'shop-config' }, k8s.setHeaderOptions('Accept', 'application/json;as=Table;g=meta.k8s.io;v=v1'))) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    const cell = (column: string): unknown => table.rows[0]?.cells[table.columnDefinitions.findIndex((c) => c.name === column)];
    expect(cell('Deletion')).toBe('Retain');

    // Drop the API_TOKEN key and the shop-api Secret from the spec.
    const spec = example.spec as { secretObjects: { secretName: string; data: { key: string }[] }[] };
    const secretObjects = spec.secretObjects.filter((s) => s.secretName !== 'shop-api').map((s) => ({ ...s, data: s.data.filter((d) => d.key !== 'API_TOKEN') }));
    await syncs.patch(fx.ns, 'shop-config', { spec: { secretObjects } });
    await syncedAs('shop-config', ['shop-db']);
    expect(keys(await secret('shop-db'))).toEqual(['DB_PASSWORD']);
    expect(await secret('shop-api'), 'Retain: a Secret that left the spec stays').toBeDefined();

    await deleteInForeground('shop-config');
    expect(keys(await secret('shop-db')), 'Retain: the Secret outlives its KeyVaultSync').toEqual(['DB_PASSWORD']);
  });

  it('Delete (the default): a Secret that leaves the spec is deleted, and the rest go with the KeyVaultSync', async () => {
    const objects = [{ name: 'db-password', alias: 'password' }, { name: 'api-token' }];
    const both = [
      { secretName: 'app-db', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] },
      { secretName: 'app-api', data: [{ objectName: 'api-token', key: 'TOKEN' }] },
    ];
    await syncs.create(fx.ns, 'app', syncSpec(fx.world, { objects, secretObjects: both }));
    await syncedAs('app', ['app-db', 'app-api']);
    const uid = (await syncs.get(fx.ns, 'app')).metadata?.uid;
    expect((await secret('app-api'))?.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([uid]);

    await syncs.patch(fx.ns, 'app', { spec: { secretObjects: both.slice(0, 1) } });
    await syncedAs('app', ['app-db']);
    expect(await secret('app-api'), 'Delete: a Secret that left the spec is deleted').toBeUndefined();

    await deleteInForeground('app');
    expect(await secret('app-db'), 'Delete: the garbage collector removed it with the KeyVaultSync').toBeUndefined();
  });

  it('switching Delete → Retain takes the owner references off at the next sync, and back puts them on', async () => {
    const spec = syncSpec(fx.world, { objects: [{ name: 'db-password' }], secretObjects: [{ secretName: 'switch-db', data: [{ objectName: 'db-password' }] }] });
    await syncs.create(fx.ns, 'switch', spec);
    await syncedAs('switch', ['switch-db']);
    const uid = (await syncs.get(fx.ns, 'switch')).metadata?.uid;
    expect((await secret('switch-db'))?.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([uid]);

    await syncs.patch(fx.ns, 'switch', { spec: { deletionPolicy: 'Retain' } });
    await syncedAs('switch', ['switch-db']);
    const retained = await secret('switch-db');
    expect(retained?.metadata?.ownerReferences ?? []).toEqual([]);
    expect(retained?.metadata?.annotations?.[OWNER_UID_ANNOTATION]).toBe(uid);

    await syncs.patch(fx.ns, 'switch', { spec: { deletionPolicy: 'Delete' } });
    await syncedAs('switch', ['switch-db']);
    const owned = await secret('switch-db');
    expect(owned?.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([uid]);
    expect(owned?.metadata?.annotations?.[OWNER_UID_ANNOTATION]).toBeUndefined();
    await deleteInForeground('switch');
    expect(await secret('switch-db')).toBeUndefined();
  });
});

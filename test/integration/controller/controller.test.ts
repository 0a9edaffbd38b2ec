/**
 * The controller on the real control plane + the real emulator: KeyVaultSync → a kubernetes.io/tls
 * Secret (checked by a TLS handshake) and an Opaque Secret with Ready=True; pruning; a failing
 * required object leaves the last good Secret untouched; SecretConflict and Merge; garbage collection.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../../src/controller/controller.ts';
import { MERGE_FROM_ANNOTATION } from '../../../src/api/secret-ownership.ts';
import { fieldManagerFor, MANAGED_BY_LABEL, SYNC_LABEL } from '../../../src/controller/labels.ts';
import { emulatorAgent } from '../../../src/keyvault/endpoints-file.ts';
import { admin } from '../emulator/kv-support.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { kubeConfig, statusOf } from '../support/kube.ts';
import { conditionOf, syncApi, syncSpec, VAULT, type TestWorld, startOperatorFixture, type OperatorFixture } from './support.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };

async function handshake(certPem: string, keyPem: string, rootPem: string): Promise<string | undefined> {
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => socket.end('hello'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'shop.example', ca: rootPem });
    await once(socket, 'secureConnect');
    const cn = socket.getPeerCertificate().subject?.CN;
    socket.destroy();
    return typeof cn === 'string' ? cn : undefined;
  } finally {
    server.close();
  }
}

describe('kvsync controller on the real control plane and emulator', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const syncs = syncApi(kc);
  let world: TestWorld;
  let ns = '';
  let opNs = '';
  let controller: RunningController;

  const readSecret = async (name: string): Promise<k8s.V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({ name, namespace: ns });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  };
  const waitReady = (name: string, generation?: number) =>
    pollUntil(
      async () => {
        const o = await syncs.get(ns, name);
        const ready = conditionOf(o, 'Ready');
        const gen = generation ?? o.metadata?.generation;
        return ready?.status === 'True' && o.status?.observedGeneration === gen ? o : undefined;
      },
      { ...WAIT, description: `KeyVaultSync ${name} Ready=True at its current generation` },
    );

  let fixture: OperatorFixture | undefined;
  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'ctl');
    ({ world, ns, opNs, controller } = fixture);
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('serves /healthz and /readyz and creates the MAC key Secret in the operator namespace', async () => {
    const base = `http://${controller.healthAddress ?? ''}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await pollUntil(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), { ...WAIT, description: '/readyz 200' });
    const macKey = await core.readNamespacedSecret({ name: 'kvsync-mac-key', namespace: opNs });
    expect(Buffer.from(macKey.data?.key ?? '', 'base64').length).toBe(32);
  });

  it('while it runs, survives the Azure SDK\'s unawaited background token-refresh failure, and only that', () => {
    // What the Key Vault clients' token cycler leaves unhandled when Entra ID stays down past a token's end.
    const tokenFailure = Object.assign(new Error('no token'), { name: 'AuthenticationRequiredError' });
    expect(process.emit('unhandledRejection', tokenFailure, Promise.resolve())).toBe(true);
    const bug = new TypeError('a bug');
    expect(() => process.emit('unhandledRejection', bug, Promise.resolve())).toThrow(bug);
  });

  it('syncs a certificate into a kubernetes.io/tls Secret and secrets into an Opaque Secret, Ready=True', async () => {
    await syncs.create(
      ns,
      'app',
      syncSpec(world, {
        objects: [
          { name: 'shop-tls', type: 'certificate' },
          { name: 'db-password', type: 'secret', alias: 'password' },
          { name: 'api-token', type: 'secret' },
        ],
        secretObjects: [
          { secretName: 'shop-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] },
          { secretName: 'shop-db', type: 'Opaque', labels: { team: 'shop' }, data: [{ objectName: 'password', key: 'DB_PASSWORD' }, { objectName: 'api-token', key: 'API_TOKEN' }] },
        ],
        refreshInterval: '1h',
      }),
    );
    const synced = await waitReady('app');
    const tlsSecret = await pollUntil(() => readSecret('shop-tls'), { ...WAIT, description: 'Secret shop-tls' });
    expect(tlsSecret.type).toBe('kubernetes.io/tls');
    const certPem = Buffer.from(tlsSecret.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
    const keyPem = Buffer.from(tlsSecret.data?.['tls.key'] ?? '', 'base64').toString('utf8');
    expect(certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2); // leaf + intermediate, no root
    expect(await handshake(certPem, keyPem, world.ca.rootPem)).toBe('shop.example');

    const db = await readSecret('shop-db');
    expect(db?.type).toBe('Opaque');
    expect(Buffer.from(db?.data?.DB_PASSWORD ?? '', 'base64').toString()).toBe('correct-horse-battery-staple');
    expect(Buffer.from(db?.data?.API_TOKEN ?? '', 'base64').toString()).toBe('tok-1234');
    for (const s of [tlsSecret, db]) {
      expect(s?.metadata?.labels?.[MANAGED_BY_LABEL]).toBe('kvsync');
      expect(s?.metadata?.labels?.[SYNC_LABEL]).toBe('app');
      expect(s?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'KeyVaultSync', name: 'app', uid: synced.metadata?.uid, controller: true });
      expect(s?.metadata?.managedFields?.filter((m) => m.operation === 'Apply').map((m) => m.manager)).toEqual([fieldManagerFor(ns, 'app')]);
    }
    expect(db?.metadata?.labels?.team).toBe('shop');

    expect(conditionOf(synced, 'Synced')?.status).toBe('True');
    expect(synced.status?.lastSyncTime).toBeDefined();
    const objects = synced.status?.objects ?? [];
    expect(objects.map((o) => o.name).sort()).toEqual(['api-token', 'password', 'shop-tls']);
    const cert = objects.find((o) => o.name === 'shop-tls');
    expect(cert?.contentType).toBe('application/x-pkcs12');
    expect(Date.parse(cert?.expiresAt ?? '')).toBeGreaterThan(Date.now());
    expect(objects.every((o) => (o.version ?? '').length > 0)).toBe(true);
    const macs = synced.status?.secrets ?? [];
    expect(macs.map((s) => s.name).sort()).toEqual(['shop-db', 'shop-tls']);
    for (const m of macs) expect(m.dataMAC).toMatch(/^hmac-sha256-v2:[0-9a-f]{64}$/);
    // No value anywhere in the status.
    expect(JSON.stringify(synced.status)).not.toContain('correct-horse');

    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=app' });
    // Creating the Secrets of a first sync is told by Ready alone, not by an Event each.
    expect(events.items.filter((e) => e.type === 'Normal')).toEqual([]);
    expect(JSON.stringify(events.items)).not.toContain('correct-horse');
  });

  it('prunes a key that left the spec', async () => {
    await syncs.patch(ns, 'app', {
      spec: { secretObjects: [
        { secretName: 'shop-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] },
        { secretName: 'shop-db', type: 'Opaque', labels: { team: 'shop' }, data: [{ objectName: 'password', key: 'DB_PASSWORD' }] },
      ] },
    });
    await waitReady('app');
    const db = await pollUntil(async () => {
      const s = await readSecret('shop-db');
      return s?.data?.API_TOKEN === undefined ? s : undefined;
    }, { ...WAIT, description: 'API_TOKEN pruned from shop-db' });
    expect(Object.keys(db.data ?? {})).toEqual(['DB_PASSWORD']);
  });

  it('repairs an out-of-band edit of a managed Secret', async () => {
    await core.patchNamespacedSecret(
      { name: 'shop-db', namespace: ns, body: { data: { DB_PASSWORD: Buffer.from('tampered').toString('base64') } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await pollUntil(async () => {
      const s = await readSecret('shop-db');
      return Buffer.from(s?.data?.DB_PASSWORD ?? '', 'base64').toString() === 'correct-horse-battery-staple' ? true : undefined;
    }, { ...WAIT, description: 'shop-db repaired' });
    // A repair is worth telling a person: an Updated event names the Secret (never its value).
    const events = await pollUntil(async () => {
      const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=app' });
      return list.items.some((e) => e.type === 'Normal' && e.reason === 'Updated' && e.message?.includes('shop-db')) ? list.items : undefined;
    }, { ...WAIT, description: 'Updated event of the repair' });
    expect(JSON.stringify(events)).not.toContain('correct-horse');
  });

  it('leaves the last good Secret untouched when a required object fails, and says why', async () => {
    await syncs.create(ns, 'fragile', syncSpec(world, {
      objects: [{ name: 'doomed', type: 'secret' }, { name: 'api-token', type: 'secret' }],
      secretObjects: [{ secretName: 'fragile', type: 'Opaque', data: [{ objectName: 'doomed' }, { objectName: 'api-token' }] }],
    }));
    await waitReady('fragile');
    const before = await readSecret('fragile');
    expect(Buffer.from(before?.data?.doomed ?? '', 'base64').toString()).toBe('short-lived');

    const admin = new ClientSecretCredential(world.emu.endpoints.tenantID, world.emu.endpoints.admin.clientID, world.emu.endpoints.admin.clientSecret, {
      authorityHost: world.emu.endpoints.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: world.emu.caPem },
    });
    const vaultUrl = world.emu.endpoints.vaults[VAULT] ?? '';
    const client = new SecretClient(vaultUrl, admin, { agent: emulatorAgent(world.emu.endpoints, world.emu.caPem) });
    await (await client.beginDeleteSecret('doomed')).pollUntilDone();
    await client.setSecret('api-token', 'tok-5678');

    await syncs.patch(ns, 'fragile', { metadata: { annotations: { 'kvsync.dev/force-sync': '1' } } });
    const failed = await pollUntil(async () => {
      const o = await syncs.get(ns, 'fragile');
      return conditionOf(o, 'Ready')?.status === 'False' ? o : undefined;
    }, { ...WAIT, description: 'fragile Ready=False' });
    expect(conditionOf(failed, 'Ready')?.reason).toBe('ObjectNotFound');
    expect(conditionOf(failed, 'Ready')?.message).toContain('doomed');
    expect(conditionOf(failed, 'Synced')?.reason).toBe('ObjectNotFound');
    const after = await readSecret('fragile');
    // Whole or nothing: not even the api-token that did change was written.
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(after?.data).toEqual(before?.data);
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=fragile' });
    expect(events.items.some((e) => e.type === 'Warning' && e.reason === 'ObjectNotFound')).toBe(true);
  });

  it('never overwrites a Secret it did not create (SecretConflict), and writes into it with Merge and the owner\'s consent', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'foreign' }, type: 'Opaque', stringData: { theirs: 'keep-me' } } });
    const spec = (policy: string) => syncSpec(world, {
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName: 'foreign', type: 'Opaque', creationPolicy: policy, data: [{ objectName: 'db-password', key: 'ours' }] }],
    });
    await syncs.create(ns, 'intruder', spec('Owner'));
    const refused = await pollUntil(async () => {
      const o = await syncs.get(ns, 'intruder');
      return conditionOf(o, 'Ready')?.reason === 'SecretConflict' ? o : undefined;
    }, { ...WAIT, description: 'intruder SecretConflict' });
    expect(conditionOf(refused, 'Ready')?.message).toContain('foreign');
    const untouched = await readSecret('foreign');
    expect(Object.keys(untouched?.data ?? {})).toEqual(['theirs']);

    // Merge needs the Secret owner's consent, naming this KeyVaultSync.
    await syncs.patch(ns, 'intruder', { spec: spec('Merge') });
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'intruder'), 'Ready')?.message?.includes(`${MERGE_FROM_ANNOTATION}=intruder`) === true ? true : undefined), { ...WAIT, description: 'Merge without consent refused' });
    await core.patchNamespacedSecret({ namespace: ns, name: 'foreign', body: { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: 'intruder' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await syncs.patch(ns, 'intruder', { metadata: { annotations: { 'kvsync.dev/force-sync': 'consent' } } });
    await waitReady('intruder');
    const merged = await readSecret('foreign');
    expect(Buffer.from(merged?.data?.theirs ?? '', 'base64').toString()).toBe('keep-me');
    expect(Buffer.from(merged?.data?.ours ?? '', 'base64').toString()).toBe('correct-horse-battery-staple');
    expect(merged?.metadata?.ownerReferences ?? []).toEqual([]);
    expect(merged?.metadata?.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
  });

  it('writes public certificate material into a ConfigMap output', async () => {
    await syncs.create(ns, 'ca-bundle', syncSpec(world, {
      objects: [{ name: 'shop-tls', type: 'certificate' }],
      configMapObjects: [{ configMapName: 'shop-ca', data: [{ objectName: 'shop-tls', key: 'ca.crt' }] }],
    }));
    await waitReady('ca-bundle');
    const cm = await core.readNamespacedConfigMap({ name: 'shop-ca', namespace: ns });
    expect(cm.data?.['ca.crt']).toContain('BEGIN CERTIFICATE');
    expect(cm.data?.['ca.crt']).not.toContain('PRIVATE KEY');
    expect(cm.metadata?.labels?.[MANAGED_BY_LABEL]).toBe('kvsync');
    expect(cm.metadata?.ownerReferences?.[0]?.name).toBe('ca-bundle');
  });

  it('reports Throttled while the vault answers 429, then recovers', async () => {
    // An object no other KeyVaultSync reads: a recent read of a shared one would be served from the
    // controller's object cache (docs/operator.md, "One read per object") without reaching the vault.
    const vaultAdmin = new ClientSecretCredential(world.emu.endpoints.tenantID, world.emu.endpoints.admin.clientID, world.emu.endpoints.admin.clientSecret, {
      authorityHost: world.emu.endpoints.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: world.emu.caPem },
    });
    await new SecretClient(world.emu.endpoints.vaults[VAULT] ?? '', vaultAdmin, { agent: emulatorAgent(world.emu.endpoints, world.emu.caPem) }).setSecret('busy-token', 'tok-busy');
    const fault = await admin(world.emu, 'POST', '/faults', { vault: VAULT, operation: 'getSecret', status: 429, retryAfterSeconds: 1, durationSeconds: 4 });
    expect(fault.status).toBe(201);
    await syncs.create(ns, 'busy', syncSpec(world, {
      objects: [{ name: 'busy-token', type: 'secret' }],
      secretObjects: [{ secretName: 'busy', type: 'Opaque', data: [{ objectName: 'busy-token' }] }],
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'busy'), 'Ready')?.reason === 'Throttled' ? true : undefined), { ...WAIT, description: 'busy Throttled' });
    await waitReady('busy');
    expect(await readSecret('busy')).toBeDefined();
  });

  it('lets the garbage collector delete owned Secrets with their KeyVaultSync', async () => {
    expect(await readSecret('shop-tls')).toBeDefined();
    await syncs.delete(ns, 'app');
    // kube-controller-manager's garbage collector starts monitoring a CRD kind only at its next
    // discovery resync (every 30 s), so a freshly installed kind may take that long.
    await pollUntil(async () => ((await readSecret('shop-tls')) === undefined && (await readSecret('shop-db')) === undefined ? true : undefined), {
      timeoutMs: 110_000,
      intervalMs: 500,
      description: 'owned Secrets garbage-collected',
    });
    // Merged into: not owned, so it stays.
    expect(await readSecret('foreign')).toBeDefined();
  }, 120_000);
});

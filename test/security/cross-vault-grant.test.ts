/**
 * Threat: a tenant holding a KeyVaultIdentity grant for vault `tenantakv` names that vault and, beside
 * it, the URL of another vault (`payrollkv`), hoping the grant is checked on the name while the reads
 * go to the URL. The node identity behind the grant may read both vaults, so only kvsync stands in the
 * way. Defence: a vault is its canonical URL (src/api/vault-url.ts), name and URL must agree (CRD CEL
 * and parseKeyVaultSync), and grants compare canonical URLs. Proven in every place that resolves a
 * vault: the apiserver, the controller (also for an object stored before the rule existed), `kvsync
 * render`, the webhook and `kvsync mount`; the emulator counts zero requests to `payrollkv`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import { KubeEventRecorder } from '../../src/controller/events.ts';
import { KeyVaultPipeline } from '../../src/keyvault/pipeline.ts';
import { KubeStatusWriter, Reconciler, type KeyVaultSyncObject } from '../../src/controller/reconciler.ts';
import { SecretWriter } from '../../src/controller/secret-writer.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { keyVaultSyncLookup, kubeClusterView } from '../../src/webhook/kube-cluster-view.ts';
import { mutatePod } from '../../src/webhook/mutate-pod.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../integration/support/kube.ts';
import { createKeyVaultIdentity, deleteKeyVaultIdentity, keyVaultSyncObject, NODE_IDENTITY, PAYROLL_VALUE, PAYROLL_VAULT, startTwoVaultWorld, TENANT_VALUE, TENANT_VAULT, type TwoVaultWorld } from './support.ts';
import { runKvsync } from './channels.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
const silent = pino({ level: 'silent' });

let world: TwoVaultWorld;
let env: AzureEnvironment;
let ns = '';
let legacyNs = '';
let opNs = '';
let identityName = '';
let controller: RunningController | undefined;

/** The attack: the grant's vault by name, the other vault by URL; the other vault's secret under an innocent alias. */
function attackSpec(): Record<string, unknown> {
  return {
    vault: { name: TENANT_VAULT, url: world.emu.endpoints.vaults[PAYROLL_VAULT], tenantID: world.emu.endpoints.tenantID },
    identity: { managedIdentity: { identityRef: identityName } },
    objects: [{ name: 'salary', alias: 'app-secret' }],
    secretObjects: [{ secretName: 'stolen', data: [{ objectName: 'app-secret', key: 'value' }] }],
  };
}

function createSync(namespace: string, name: string, spec: Record<string, unknown>): Promise<unknown> {
  return custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', body: keyVaultSyncObject(namespace, name, spec) });
}

async function getSync(namespace: string, name: string): Promise<KeyVaultSyncObject> {
  return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', name })) as KeyVaultSyncObject;
}

async function readyCondition(namespace: string, name: string): Promise<{ status: string; reason: string; message: string } | undefined> {
  const conditions = (await getSync(namespace, name)).status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined;
  return conditions?.find((c) => c.type === 'Ready');
}

async function secretExists(namespace: string, name: string): Promise<boolean> {
  try {
    await core.readNamespacedSecret({ namespace, name });
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startTwoVaultWorld();
  env = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
  ns = await createTestNamespace(kc, 'sec-xv');
  legacyNs = await createTestNamespace(kc, 'sec-xv-legacy');
  opNs = await createTestNamespace(kc, 'sec-xv-op');
  identityName = `xv-node-${ns.slice(-6)}`;
  await createKeyVaultIdentity(kc, identityName, {
    type: 'managedIdentity',
    clientID: world.clientIdOf(NODE_IDENTITY),
    tenantID: world.emu.endpoints.tenantID,
    allowedNamespaces: { names: [ns, legacyNs] },
    allowedVaults: [TENANT_VAULT],
  });
  controller = await startController({ kubeConfig: kc, azure: env, namespace: opNs, watchNamespace: ns, retryPeriodMs: 500, log: silent });
});

afterAll(async () => {
  await controller?.stop();
  await world?.emu.stop();
  env?.agent?.destroy();
  await deleteKeyVaultIdentity(kc, identityName);
  for (const n of [ns, legacyNs, opNs]) if (n !== '') await deleteTestNamespace(kc, n);
});

describe('cross-vault read through a vault grant', () => {
  it('control: the grant serves its own vault (so every refusal below is the fence, not a broken set-up)', async () => {
    await createSync(ns, 'honest', {
      vault: { name: TENANT_VAULT, tenantID: world.emu.endpoints.tenantID },
      identity: { managedIdentity: { identityRef: identityName } },
      objects: [{ name: 'app-secret' }],
      secretObjects: [{ secretName: 'honest', data: [{ objectName: 'app-secret', key: 'value' }] }],
    });
    const secret = await pollUntil(async () => ((await secretExists(ns, 'honest')) ? core.readNamespacedSecret({ namespace: ns, name: 'honest' }) : undefined), { ...WAIT, description: 'Secret honest' });
    expect(Buffer.from(secret.data?.value ?? '', 'base64').toString('utf8')).toBe(TENANT_VALUE);
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });

  it('the apiserver refuses name + URL of two vaults (CEL), so the controller never sees it', async () => {
    const err: unknown = await createSync(ns, 'attack', attackSpec()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusOf(err)).toBe(422);
    expect(String((err as { body?: unknown }).body)).toContain('spec.vault.url must be the URL of the vault');
    expect(await secretExists(ns, 'stolen')).toBe(false);
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });

  it('the controller refuses it as InvalidSpec when it was stored before the rule existed, and reads nothing', async () => {
    // A real object (so the status lands in the apiserver) whose stored spec the reconciler sees as the attack.
    await createSync(legacyNs, 'legacy', { vault: { name: TENANT_VAULT, tenantID: world.emu.endpoints.tenantID }, objects: [{ name: 'app-secret' }] });
    const stored = await getSync(legacyNs, 'legacy');
    const attack = { ...stored, spec: attackSpec() } as KeyVaultSyncObject;
    const pipeline = new KeyVaultPipeline(kc, env);
    const reconciler = new Reconciler({
      getSync: () => attack,
      listIdentities: () => [{ apiVersion: `${GROUP}/${VERSION}`, kind: 'KeyVaultIdentity', metadata: { name: identityName }, spec: { type: 'managedIdentity', clientID: world.clientIdOf(NODE_IDENTITY), tenantID: world.emu.endpoints.tenantID, allowedNamespaces: { names: [legacyNs] }, allowedVaults: [TENANT_VAULT] } } as k8s.KubernetesObject],
      pipeline,
      writer: new SecretWriter(kc),
      status: new KubeStatusWriter(kc),
      events: new KubeEventRecorder(kc, { instance: 'security-test', onError: () => undefined }),
      macKey: Buffer.alloc(32, 7),
      isLeader: () => true,
      vaults: env,
      log: silent,
    });
    try {
      await reconciler.reconcile(`${legacyNs}/legacy`);
    } finally {
      pipeline.close();
    }
    const ready = await readyCondition(legacyNs, 'legacy');
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready?.message).toContain('spec.vault.url must be the URL of the vault');
    expect(await secretExists(legacyNs, 'stolen')).toBe(false);
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });

  it('the controller refuses the other vault by URL alone: the grant is compared with the canonical URL', async () => {
    const spec = { ...attackSpec(), vault: { url: world.emu.endpoints.vaults[PAYROLL_VAULT], tenantID: world.emu.endpoints.tenantID } };
    await createSync(ns, 'by-url', spec);
    const ready = await pollUntil(async () => {
      const c = await readyCondition(ns, 'by-url');
      return c?.status === 'False' ? c : undefined;
    }, { ...WAIT, description: 'by-url Ready=False' });
    expect(ready.reason).toBe('IdentityNotPermitted');
    expect(ready.message).toContain('does not grant vault');
    expect(await secretExists(ns, 'stolen')).toBe(false);
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });

  it('kvsync render refuses it (exit 2, InvalidSpec) before any request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvsync-sec-xv-'));
    const file = join(dir, 'attack.yaml');
    writeFileSync(file, stringify(keyVaultSyncObject(ns, 'attack', attackSpec())));
    const r = await runKvsync(['render', '-f', file, '--azure-endpoints', world.endpointsFile, '--show-values']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('spec.vault.url must be the URL of the vault');
    expect(r.stdout + r.stderr).not.toContain(PAYROLL_VALUE);
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });

  it('the webhook denies a mount of it (and of the other vault by URL) with the same resolution', async () => {
    const pod = {
      metadata: { name: 'web', namespace: ns, labels: { 'kvsync.dev/inject': 'enabled' }, annotations: { 'kvsync.dev/mount': 'attack' } },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    };
    const view = kubeClusterView(kc, env);
    const stored = keyVaultSyncObject(ns, 'attack', attackSpec());
    const legacyView = { ...view, getKeyVaultSync: () => Promise.resolve(keyVaultSyncLookup(stored, env)) };
    const opts = { operatorNamespace: opNs, sidecarImage: 'kvsync:test', vaults: env };
    const legacy = await mutatePod({ pod, namespace: ns, namespaceLabels: {} }, legacyView, opts);
    expect(legacy).toMatchObject({ kind: 'denied', error: { reason: 'KeyVaultSyncInvalid' } });

    // The stored KeyVaultSync naming the other vault by URL only (valid for the apiserver).
    const byUrl = await mutatePod({ pod: { ...pod, metadata: { ...pod.metadata, annotations: { 'kvsync.dev/mount': 'by-url' } } }, namespace: ns, namespaceLabels: {} }, view, opts);
    expect(byUrl).toMatchObject({ kind: 'denied', error: { reason: 'IdentityNotGranted' } });
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });

  it('kvsync mount refuses it (exit 2, InvalidSpec) before asking IMDS or the vault', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvsync-sec-xv-mount-'));
    const r = await runKvsync(['mount', '--spec-json', JSON.stringify(keyVaultSyncObject(ns, 'attack', attackSpec())), '--dir', dir, '--azure-endpoints', world.endpointsFile], {
      AZURE_CLIENT_ID: world.clientIdOf(NODE_IDENTITY),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('InvalidSpec');
    expect(r.stderr).toContain('spec.vault.url must be the URL of the vault');
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });
});

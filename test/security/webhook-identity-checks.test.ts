/**
 * Threat: a KeyVaultSync references a KeyVaultIdentity its namespace is granted, and also names the
 * client ID of another managed identity (CSI `userAssignedIdentityID`). The controller refused this;
 * the webhook did not, and handed the mount sidecar the other identity's client ID, so the pod read
 * with an identity nobody granted it. Defence: one function (sharedIdentityDenial) decides for both,
 * and the sidecar only ever gets the granted identity's client ID. Both run here on the real apiserver
 * with the emulator's IMDS behind the controller.
 */
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import type { KeyVaultSyncObject } from '../../src/controller/reconciler.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { kubeClusterView } from '../../src/webhook/kube-cluster-view.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';
import { createKeyVaultIdentity, deleteKeyVaultIdentity, keyVaultSyncObject, NODE_IDENTITY, OTHER_IDENTITY, PAYROLL_VAULT, startTwoVaultWorld, TENANT_VAULT, type TwoVaultWorld } from './support.ts';
import { startTestWebhook, type TestWebhook } from './webhook-support.ts';

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };

let world: TwoVaultWorld;
let env: AzureEnvironment;
let ns = '';
let opNs = '';
let identityName = '';
let controller: RunningController | undefined;
let webhook: TestWebhook;

function spec(parameters: Record<string, string> | undefined): Record<string, unknown> {
  return {
    vault: { name: TENANT_VAULT, tenantID: world.emu.endpoints.tenantID },
    identity: { managedIdentity: { identityRef: identityName } },
    objects: [{ name: 'app-secret' }],
    secretObjects: [{ secretName: 'app', data: [{ objectName: 'app-secret', key: 'value' }] }],
    ...(parameters === undefined ? {} : { parameters }),
  };
}

async function ready(name: string): Promise<{ status: string; reason: string; message: string }> {
  return pollUntil(
    async () => {
      const obj = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'keyvaultsyncs', name })) as KeyVaultSyncObject;
      const c = (obj.status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((x) => x.type === 'Ready');
      return c?.status === 'True' || c?.status === 'False' ? c : undefined;
    },
    { ...WAIT, description: `KeyVaultSync ${name} Ready decided` },
  );
}

function mountPod(sync: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: ns, labels: { 'kvsync.dev/inject': 'enabled' }, annotations: { 'kvsync.dev/mount': sync } }, spec: { containers: [{ name: 'app', image: 'busybox' }] } };
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startTwoVaultWorld();
  env = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
  ns = await createTestNamespace(kc, 'sec-wid');
  opNs = await createTestNamespace(kc, 'sec-wid-op');
  identityName = `wid-node-${ns.slice(-6)}`;
  await createKeyVaultIdentity(kc, identityName, {
    type: 'managedIdentity',
    clientID: world.clientIdOf(NODE_IDENTITY),
    tenantID: world.emu.endpoints.tenantID,
    allowedNamespaces: { names: [ns] },
    allowedVaults: [TENANT_VAULT],
  });
  controller = await startController({ kubeConfig: kc, azure: env, namespace: opNs, watchNamespace: ns, retryPeriodMs: 500, log: pino({ level: 'silent' }) });
  webhook = await startTestWebhook(kubeClusterView(kc, env), { operatorNamespace: opNs, sidecarImage: 'kvsync:test', vaults: env });
  for (const [name, parameters] of [
    ['granted', undefined],
    ['other-client', { useVMManagedIdentity: 'true', userAssignedIdentityID: world.clientIdOf(OTHER_IDENTITY) }],
  ] as const) {
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'keyvaultsyncs', body: keyVaultSyncObject(ns, name, spec(parameters)) });
  }
});

afterAll(async () => {
  await webhook?.close();
  await controller?.stop();
  await world?.emu.stop();
  env?.agent?.destroy();
  await deleteKeyVaultIdentity(kc, identityName);
  for (const n of [ns, opNs]) if (n !== '') await deleteTestNamespace(kc, n);
});

describe('the webhook makes the controller identity checks', () => {
  it('control: the granted identity syncs in the controller, and the webhook gives the sidecar exactly its client ID', async () => {
    expect(await ready('granted')).toMatchObject({ status: 'True' });
    const answer = await webhook.admit(ns, mountPod('granted'));
    expect(answer.allowed).toBe(true);
    const init = webhook.patchOf(answer).find((p) => p.path === '/spec/initContainers')?.value as { env?: { name: string; value?: string }[] }[] | undefined;
    expect(init?.[0]?.env).toContainEqual({ name: 'AZURE_CLIENT_ID', value: world.clientIdOf(NODE_IDENTITY) });
  });

  it("a granted identityRef with another identity's client ID is refused by the controller and by the webhook alike", async () => {
    const c = await ready('other-client');
    expect(c).toMatchObject({ status: 'False', reason: 'IdentityNotPermitted' });
    expect(c.message).toContain(`is not the identity with client ID ${world.clientIdOf(OTHER_IDENTITY)}`);

    const answer = await webhook.admit(ns, mountPod('other-client'));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toContain(`is not the identity with client ID ${world.clientIdOf(OTHER_IDENTITY)}`);
    expect(answer.patch).toBeUndefined();
    expect(world.requestsTo(PAYROLL_VAULT)).toBe(0);
  });
});

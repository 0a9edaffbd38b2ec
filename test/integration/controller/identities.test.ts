/**
 * The controller with other identity modes: workload identity (a real ServiceAccount token exchanged
 * at the emulator's Entra ID through a federated credential whose issuer is the run's apiserver), and a
 * namespace refused a shared KeyVaultIdentity that does not grant it.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { conditionOf, runController, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from './support.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
const WI_APP = 'shop-workload';

function clusterCaPem(kc: k8s.KubeConfig): string {
  const caData = kc.getCurrentCluster()?.caData;
  return caData !== undefined ? Buffer.from(caData, 'base64').toString('utf8') : inject('kubeCaPem');
}

/** The apiserver's ServiceAccount issuer, from its discovery document. */
function discoveredIssuer(server: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${server}/.well-known/openid-configuration`, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { issuer: unknown }).issuer));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('kvsync controller identity modes', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const syncs = syncApi(kc);
  let world: TestWorld;
  let ns = '';
  let opNs = '';
  let identityName = '';
  let controller: RunningController | undefined;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createTestNamespace(kc, 'ctl-id');
    opNs = await createTestNamespace(kc, 'ctl-id-op');
    const ca = clusterCaPem(kc);
    const issuer = await discoveredIssuer(kc.getCurrentCluster()?.server ?? '', ca);
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-ctl-id-'));
    await writeFile(join(dir, 'kube-ca.pem'), ca);
    world = await startWorld({
      servicePrincipals: [{ name: WI_APP, federatedCredentials: [{ issuer, subject: `system:serviceaccount:${ns}:shop` }] }],
      // node-identity is the emulator's default managed identity (served by its IMDS).
      roleAssignments: [
        { principal: WI_APP, role: 'Key Vault Secrets User', vault: VAULT },
        { principal: 'node-identity', role: 'Key Vault Secrets User', vault: VAULT },
      ],
      trustedIssuerCaFiles: [join(dir, 'kube-ca.pem')],
    });
    const clientId = world.emu.config.servicePrincipals.find((p) => p.name === WI_APP)?.clientId ?? '';
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'shop', annotations: { 'azure.workload.identity/client-id': clientId } } } });
    controller = await runController(kc, world, { namespace: opNs, watchNamespace: ns });
  });

  afterAll(async () => {
    await controller?.stop();
    await world?.emu.stop();
    if (identityName !== '') await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name: identityName }).catch(() => undefined);
    if (ns !== '') await deleteTestNamespace(kc, ns);
    if (opNs !== '') await deleteTestNamespace(kc, opNs);
  });

  it('syncs with workload identity through the ServiceAccount of the KeyVaultSync\'s namespace', async () => {
    await syncs.create(ns, 'wi', {
      ...syncSpec(world, {
        objects: [{ name: 'db-password', type: 'secret' }],
        secretObjects: [{ secretName: 'wi-db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'password' }] }],
      }),
      identity: { workloadIdentity: { serviceAccountName: 'shop' } },
    });
    const ready = await pollUntil(async () => {
      const o = await syncs.get(ns, 'wi');
      return conditionOf(o, 'Ready')?.status === 'True' ? o : undefined;
    }, { ...WAIT, description: 'wi Ready=True' });
    expect(ready.status?.observedGeneration).toBe(ready.metadata?.generation);
    const secret = await core.readNamespacedSecret({ name: 'wi-db', namespace: ns });
    expect(Buffer.from(secret.data?.password ?? '', 'base64').toString()).toBe('correct-horse-battery-staple');
  });

  it('refuses a shared identity that does not grant the namespace (IdentityNotPermitted), writing nothing', async () => {
    identityName = `ctl-shared-${Math.random().toString(36).slice(2, 8)}`;
    const clientId = world.emu.config.managedIdentities[0]?.clientId ?? '11111111-2222-3333-4444-555555555555';
    await custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'keyvaultidentities',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'KeyVaultIdentity',
        metadata: { name: identityName },
        spec: { type: 'managedIdentity', clientID: clientId, tenantID: world.emu.endpoints.tenantID, allowedNamespaces: { names: ['some-other-namespace'] }, allowedVaults: [VAULT] },
      },
    });
    await syncs.create(ns, 'fenced', {
      ...syncSpec(world, {
        objects: [{ name: 'db-password', type: 'secret' }],
        secretObjects: [{ secretName: 'fenced', type: 'Opaque', data: [{ objectName: 'db-password' }] }],
      }),
      identity: { managedIdentity: { identityRef: identityName } },
    });
    const refused = await pollUntil(async () => {
      const o = await syncs.get(ns, 'fenced');
      return conditionOf(o, 'Ready')?.status === 'False' ? o : undefined;
    }, { ...WAIT, description: 'fenced Ready=False' });
    expect(conditionOf(refused, 'Ready')?.reason).toBe('IdentityNotPermitted');
    expect(conditionOf(refused, 'Ready')?.message).toContain(ns);
    await expect(core.readNamespacedSecret({ name: 'fenced', namespace: ns })).rejects.toMatchObject({ code: 404 });
  });
  it('syncs with a managed identity through IMDS when a KeyVaultIdentity grants the namespace and vault', async () => {
    const granted = `ctl-granted-${Math.random().toString(36).slice(2, 8)}`;
    const clientId = world.emu.config.managedIdentities[0]?.clientId ?? '';
    await custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'keyvaultidentities',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'KeyVaultIdentity',
        metadata: { name: granted },
        spec: { type: 'managedIdentity', clientID: clientId, tenantID: world.emu.endpoints.tenantID, allowedNamespaces: { names: [ns] }, allowedVaults: [VAULT] },
      },
    });
    try {
      await syncs.create(ns, 'mi', {
        ...syncSpec(world, {
          objects: [{ name: 'api-token', type: 'secret' }],
          secretObjects: [{ secretName: 'mi', type: 'Opaque', data: [{ objectName: 'api-token' }] }],
        }),
        identity: { managedIdentity: { identityRef: granted } },
      });
      await pollUntil(async () => (conditionOf(await syncs.get(ns, 'mi'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'mi Ready=True' });
      const secret = await core.readNamespacedSecret({ name: 'mi', namespace: ns });
      expect(Buffer.from(secret.data?.['api-token'] ?? '', 'base64').toString()).toBe('tok-1234');
    } finally {
      await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name: granted });
    }
  });
});

/**
 * Shared set-up of the controller integration tests: a test CA made with openssl (so the test knows
 * the root to trust), an emulator seeded with a secret and a certificate issued by that CA, a service
 * principal with roles on the vault, and helpers to read KeyVaultSync status.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import { startController, type ControllerOptions, type RunningController } from '../../../src/controller/controller.ts';
import type { KeyVaultSyncObject } from '../../../src/controller/reconciler.ts';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { loadAzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace } from '../support/kube.ts';

export const VAULT = 'devkv';
export const SP_NAME = 'shop-app';
export const SP_SECRET = 'sp-secret-for-tests';

export interface TestCa {
  rootPem: string;
  dir: string;
  chainFile: string;
  keyFile: string;
}

/** Root + intermediate made with the openssl CLI; the emulator issues leaves from the intermediate. */
export async function makeTestCa(): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'kvsync-ctl-ca-'));
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  await writeFile(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '30', '-subj', '/CN=kvsync controller test root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=kvsync controller test intermediate');
  ossl('x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'int.pem', '-days', '30', '-extfile', 'ext.cnf');
  const rootPem = await readFile(join(dir, 'root.pem'), 'utf8');
  const intPem = await readFile(join(dir, 'int.pem'), 'utf8');
  await writeFile(join(dir, 'chain.pem'), intPem + rootPem);
  return { rootPem, dir, chainFile: join(dir, 'chain.pem'), keyFile: join(dir, 'int.key') };
}

export interface TestWorld {
  emu: RunningEmulator;
  ca: TestCa;
  endpointsFile: string;
  spClientId: string;
}

/** Extra emulator config: more service principals (e.g. with federated credentials), roles, trusted CAs. */
export interface WorldExtras {
  servicePrincipals?: Record<string, unknown>[];
  roleAssignments?: Record<string, unknown>[];
  trustedIssuerCaFiles?: string[];
  /** Start with no secrets or certificates in the vault (a test seeds exactly what it describes). */
  emptyVault?: boolean;
}

export async function startWorld(extra: WorldExtras = {}): Promise<TestWorld> {
  const ca = await makeTestCa();
  const stateDir = await mkdtemp(join(tmpdir(), 'kvsync-ctl-emu-'));
  const emu = await startEmulator({
    stateDir,
    log: () => undefined,
    configDocument: {
      vaults: [
        {
          name: VAULT,
          secrets: extra.emptyVault === true ? [] : [
            { name: 'db-password', value: 'correct-horse-battery-staple' },
            { name: 'api-token', value: 'tok-1234' },
            { name: 'doomed', value: 'short-lived' },
          ],
          certificates: extra.emptyVault === true ? [] : [{ name: 'shop-tls', issuer: 'ControllerTestCA', subject: 'CN=shop.example', dnsNames: ['shop.example'], keyType: 'RSA', keySize: 2048, contentType: 'application/x-pkcs12', validityMonths: 6 }],
        },
      ],
      issuers: [{ name: 'ControllerTestCA', certFile: ca.chainFile, keyFile: ca.keyFile }],
      servicePrincipals: [{ name: SP_NAME, secrets: [SP_SECRET] }, ...(extra.servicePrincipals ?? [])],
      roleAssignments: [
        { principal: SP_NAME, role: 'Key Vault Secrets User', vault: VAULT },
        { principal: SP_NAME, role: 'Key Vault Certificate User', vault: VAULT },
        ...(extra.roleAssignments ?? []),
      ],
      ...(extra.trustedIssuerCaFiles === undefined ? {} : { trustedIssuerCaFiles: extra.trustedIssuerCaFiles }),
    },
  });
  const sp = emu.config.servicePrincipals.find((p) => p.name === SP_NAME);
  if (sp === undefined) throw new Error('service principal missing from the emulator config');
  return { emu, ca, endpointsFile: join(stateDir, 'endpoints.json'), spClientId: sp.clientId };
}

export async function runController(kc: k8s.KubeConfig, world: TestWorld, opts: Partial<ControllerOptions> & { namespace: string; watchNamespace: string }): Promise<RunningController> {
  const azure = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
  return startController({ kubeConfig: kc, azure, log: pino({ level: process.env.KVSYNC_TEST_LOG ?? 'silent' }, { write: (line: string) => console.log(line.trim()) }), retryPeriodMs: 500, ...opts });
}

/** The spec of a servicePrincipal KeyVaultSync against the emulator's vault. */
export function syncSpec(world: TestWorld, rest: Record<string, unknown>): Record<string, unknown> {
  return {
    vault: { name: VAULT, url: world.emu.endpoints.vaults[VAULT], tenantID: world.emu.endpoints.tenantID },
    identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } },
    ...rest,
  };
}

export async function createCredentialsSecret(kc: k8s.KubeConfig, namespace: string, world: TestWorld): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'kv-creds' }, stringData: { clientid: world.spClientId, clientsecret: SP_SECRET } },
  });
}

export function syncApi(kc: k8s.KubeConfig): {
  create(namespace: string, name: string, spec: Record<string, unknown>): Promise<void>;
  get(namespace: string, name: string): Promise<KeyVaultSyncObject>;
  patch(namespace: string, name: string, body: Record<string, unknown>): Promise<void>;
  delete(namespace: string, name: string): Promise<void>;
} {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const base = { group: GROUP, version: VERSION, plural: 'keyvaultsyncs' };
  return {
    async create(namespace, name, spec) {
      await api.createNamespacedCustomObject({ ...base, namespace, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'KeyVaultSync', metadata: { name }, spec } });
    },
    async get(namespace, name) {
      return (await api.getNamespacedCustomObject({ ...base, namespace, name })) as KeyVaultSyncObject;
    },
    async patch(namespace, name, body) {
      await api.patchNamespacedCustomObject({ ...base, namespace, name, body }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    },
    async delete(namespace, name) {
      await api.deleteNamespacedCustomObject({ ...base, namespace, name });
    },
  };
}

export type ConditionView = { type: string; status: string; reason: string; message: string; observedGeneration?: number };

export function conditionOf(obj: KeyVaultSyncObject, type: string): ConditionView | undefined {
  return (obj.status?.conditions as ConditionView[] | undefined)?.find((c) => c.type === type);
}

/** Waits until the KeyVaultSync's Ready condition has `status`, and returns it. */
export async function readyCondition(kc: k8s.KubeConfig, namespace: string, name: string, status: 'True' | 'False', timeoutMs = 45_000): Promise<ConditionView> {
  const syncs = syncApi(kc);
  return pollUntil(
    async () => {
      const c = conditionOf(await syncs.get(namespace, name), 'Ready');
      return c?.status === status ? c : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `${namespace}/${name} Ready=${status}` },
  );
}

/**
 * What most controller tests run against: the emulator world, a test namespace holding the
 * service-principal credentials, an operator namespace, and a controller (with a health server on a
 * free port) watching the test namespace. The CRDs are installed first.
 */
export interface OperatorFixture {
  world: TestWorld;
  ns: string;
  opNs: string;
  controller: RunningController;
  /** Stops the controller and the emulator and deletes both namespaces. */
  stop(): Promise<void>;
}

/** `controllerOptions` are passed to startController (e.g. an expiry warning window), `worldExtras` to startWorld. */
export async function startOperatorFixture(kc: k8s.KubeConfig, prefix: string, controllerOptions: Partial<ControllerOptions> = {}, worldExtras: WorldExtras = {}): Promise<OperatorFixture> {
  await installCrds(kc);
  const world = await startWorld(worldExtras);
  const ns = await createTestNamespace(kc, prefix);
  const opNs = await createTestNamespace(kc, `${prefix}-op`);
  await createCredentialsSecret(kc, ns, world);
  const controller = await runController(kc, world, { ...controllerOptions, namespace: opNs, watchNamespace: ns, healthAddr: '127.0.0.1:0' });
  return {
    world,
    ns,
    opNs,
    controller,
    stop: async () => {
      await controller.stop();
      await world.emu.stop();
      await deleteTestNamespace(kc, ns);
      await deleteTestNamespace(kc, opNs);
    },
  };
}

/** The Secret, or undefined when it does not exist. */
export async function secretIfAny(kc: k8s.KubeConfig, namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
  try {
    return await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace, name });
  } catch (err) {
    if (err instanceof k8s.ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/** The events `kubectl describe <kind> <name>` shows, once one with `reason` is among them. */
export async function eventsWith(kc: k8s.KubeConfig, namespace: string, involved: { kind: string; name: string }, reason: string, timeoutMs = 60_000): Promise<k8s.CoreV1Event[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return pollUntil(
    async () => {
      const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=${involved.kind},involvedObject.name=${involved.name}` });
      return list.items.some((e) => e.reason === reason) ? list.items : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `event ${reason} on ${involved.kind} ${involved.name}` },
  );
}

/** A managed-identity KeyVaultIdentity of the emulator granting the vault to `namespaces` only. */
export async function createManagedIdentityGrant(kc: k8s.KubeConfig, world: TestWorld, name: string, namespaces: string[]): Promise<void> {
  const spec = { type: 'managedIdentity', clientID: world.emu.config.managedIdentities[0]?.clientId ?? '11111111-2222-3333-4444-555555555555', tenantID: world.emu.endpoints.tenantID, allowedNamespaces: { names: namespaces }, allowedVaults: [VAULT] };
  await kc.makeApiClient(k8s.CustomObjectsApi).createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'KeyVaultIdentity', metadata: { name }, spec } });
}


/**
 * The first-run demo behind `kvsync dev`: on a running cluster (the local control plane, or an existing
 * one with `--kubeconfig`) it installs the CRDs and the chart's RBAC (rendered by helm; the operator's
 * sync permissions bound in the sample namespace only), starts the Key Vault emulator seeded from
 * samples/emulator.yaml, runs the controller in-process AS THE CHART'S ServiceAccount (a TokenRequest
 * token, not the admin's credentials), applies samples/shop.yaml, waits for the KeyVaultSync to be
 * Ready, shows the Secrets it produced (keys, sizes and certificate names — never a secret value), then
 * rotates the secret in the emulator and shows the Secret following it.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { createLogger } from '../util/log.ts';
import { parseAllDocuments } from 'yaml';
import { installCrds } from '../api/install.ts';
import { startController } from '../controller/controller.ts';
import { emulatorAgent } from '../keyvault/endpoints-file.ts';
import { startEmulator, type RunningEmulator } from '../emulator/server.ts';
import { loadAzureEnvironment } from '../keyvault/azure-environment.ts';
import { pollUntil } from '../util/poll.ts';
import { installChartRbac } from './chart-rbac.ts';
import type { HelmBinary } from './helm.ts';

const samples = fileURLToPath(new URL('../../samples/', import.meta.url));
const FIELD_MANAGER = 'kvsync-dev';
/** The namespace samples/shop.yaml uses. */
const SAMPLE_NAMESPACE = 'shop';
/** Marks namespaces the demo created on an existing cluster (removed on stop, reused on a rerun). */
const DEMO_LABEL = 'kvsync.dev/dev-demo';

/** Where the demo runs and how it installs itself. */
export interface DemoTarget {
  /** An admin kubeconfig. */
  kubeconfigPath: string;
  helm: HelmBinary;
  /** Operator namespace = the chart's release namespace; release = the chart's release name. */
  operatorNamespace: string;
  release: string;
  /**
   * A cluster the demo did not start: it refuses to touch namespaces it did not create, and on stop
   * removes its namespaces and RBAC (never the CRDs, which other KeyVaultSyncs may use).
   */
  existingCluster: boolean;
}

interface KeyVaultSyncView {
  metadata?: { generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    objects?: { name: string; version?: string }[];
  };
}

export interface RunningDemo {
  emulator: RunningEmulator;
  stop(): Promise<void>;
}

/** Runs the demo; `say` prints a line for the person watching. Leaves everything running for `stop()`. */
export async function runDemo(target: DemoTarget, stateDir: string, say: (line: string) => void): Promise<RunningDemo> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(target.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);

  await installCrds(kc);
  say('installed the CRDs keyvaultsyncs.kvsync.dev and keyvaultidentities.kvsync.dev');

  const emulator = await startEmulator({ configFile: join(samples, 'emulator.yaml'), stateDir });
  const endpointsFile = join(stateDir, 'endpoints.json');
  say(`Key Vault emulator: vault devkv at ${emulator.endpoints.vaults.devkv ?? '?'} (endpoints: ${endpointsFile})`);

  const stops: (() => Promise<void>)[] = [() => emulator.stop()];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s();
  };
  try {
    for (const ns of [target.operatorNamespace, SAMPLE_NAMESPACE]) {
      if (await ensureDemoNamespace(core, ns, target.existingCluster)) stops.push(() => deleteNamespace(core, ns));
    }
    const rbac = await installChartRbac(kc, {
      helm: target.helm,
      release: target.release,
      namespace: target.operatorNamespace,
      set: { watchNamespace: SAMPLE_NAMESPACE, 'webhook.enabled': 'false' },
    });
    if (target.existingCluster) stops.push(() => rbac.remove());
    say(`installed the chart's RBAC (charts/kvsync rendered by helm ${target.helm.version}): ${rbac.objects.join(', ')}`);
    const controller = await startController({
      kubeConfig: rbac.kubeConfig,
      azure: await loadAzureEnvironment({ endpointsFile }),
      namespace: target.operatorNamespace,
      watchNamespace: SAMPLE_NAMESPACE,
      log: createLogger({ name: 'kvsync-controller', level: 'warn' }),
    });
    stops.push(() => controller.stop());
    say(
      `kvsync controller running in-process as ServiceAccount ${rbac.serviceAccount} with only the chart's RBAC ` +
        `(operator namespace ${target.operatorNamespace}, watching ${SAMPLE_NAMESPACE}, leader election on)`,
    );

    await applyFile(kc, join(samples, 'shop.yaml'));
    say('applied samples/shop.yaml: KeyVaultSync shop/shop → Secrets shop-tls (kubernetes.io/tls) and shop-db (Opaque)');

    const ready = await waitReady(custom, (s) => s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
    say(`KeyVaultSync shop/shop: ${conditionLine(ready)}`);
    await describeSecrets(core, say);

    // Rotation: a new version of the secret in Key Vault, picked up at once through kvsync.dev/force-sync.
    const before = versionOf(ready, 'password');
    const secrets = new SecretClient(emulator.endpoints.vaults.devkv ?? '', adminCredential(emulator), {
      agent: emulatorAgent(emulator.endpoints, emulator.caPem),
    });
    const rotated = await secrets.setSecret('db-password', `rotated-${Date.now()}`);
    say(`rotation: set a new version of db-password in Key Vault (${before ?? '?'} → ${rotated.properties.version ?? '?'})`);
    await custom.patchNamespacedCustomObject(
      { group: 'kvsync.dev', version: 'v1alpha1', namespace: 'shop', plural: 'keyvaultsyncs', name: 'shop',
        body: { metadata: { annotations: { 'kvsync.dev/force-sync': new Date().toISOString() } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const after = await waitReady(custom, (s) => versionOf(s, 'password') === rotated.properties.version);
    say(`KeyVaultSync shop/shop synced db-password version ${versionOf(after, 'password') ?? '?'}: ${conditionLine(after)}`);
    await describeSecrets(core, say);
    return { emulator, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function adminCredential(emulator: RunningEmulator): ClientSecretCredential {
  const { tenantID, authorityHost, admin } = emulator.endpoints;
  return new ClientSecretCredential(tenantID, admin.clientID, admin.clientSecret, {
    authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emulator.caPem },
  });
}

/**
 * Creates a namespace for the demo; returns whether the demo owns it (and removes it on stop). On an
 * existing cluster a namespace the demo did not create is never used (it might be someone's).
 */
async function ensureDemoNamespace(core: k8s.CoreV1Api, name: string, existingCluster: boolean): Promise<boolean> {
  try {
    await core.createNamespace({ body: { metadata: { name, labels: { [DEMO_LABEL]: 'true' } } } });
    return existingCluster;
  } catch (err) {
    if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
  }
  if (!existingCluster) return false;
  const ns = await core.readNamespace({ name });
  if (ns.metadata?.labels?.[DEMO_LABEL] !== 'true') {
    throw new Error(`namespace ${name} already exists on this cluster and was not created by kvsync dev; the demo will not touch it (delete it, or use a cluster without it)`);
  }
  if (ns.status?.phase === 'Terminating') throw new Error(`namespace ${name} (from an earlier kvsync dev run) is still being deleted; try again in a minute`);
  return true;
}

async function deleteNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch((err: unknown) => {
    if (!(err instanceof k8s.ApiException && err.code === 404)) throw err;
  });
}

/** Server-side applies every document of a YAML file. */
async function applyFile(kc: k8s.KubeConfig, file: string): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
    const obj = k8s.loadYaml<k8s.KubernetesObject>(JSON.stringify(doc.toJS()));
    await objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }
}

async function waitReady(custom: k8s.CustomObjectsApi, done: (s: KeyVaultSyncView) => boolean): Promise<KeyVaultSyncView> {
  let last: KeyVaultSyncView = {};
  try {
    return await pollUntil(
      async () => {
        last = (await custom.getNamespacedCustomObject({ group: 'kvsync.dev', version: 'v1alpha1', namespace: 'shop', plural: 'keyvaultsyncs', name: 'shop' })) as KeyVaultSyncView;
        const current = last.status?.observedGeneration === last.metadata?.generation;
        return current && done(last) ? last : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'KeyVaultSync shop/shop' },
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; its status: ${conditionLine(last)}`, { cause: err });
  }
}

/** The synced version of an object, by its output name (alias, else name) as status lists it. */
function versionOf(s: KeyVaultSyncView, object: string): string | undefined {
  return s.status?.objects?.find((o) => o.name === object)?.version;
}

function conditionLine(s: KeyVaultSyncView): string {
  const conditions = s.status?.conditions ?? [];
  if (conditions.length === 0) return 'no conditions yet';
  return conditions.map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}`).join(', ');
}

/** Keys, sizes and, for tls.crt, the chain's subjects: enough to see it worked, no secret values. */
async function describeSecrets(core: k8s.CoreV1Api, say: (line: string) => void): Promise<void> {
  for (const name of ['shop-tls', 'shop-db']) {
    const secret = await core.readNamespacedSecret({ namespace: 'shop', name });
    const keys = Object.entries(secret.data ?? {}).map(([k, v]) => `${k} (${Buffer.from(v, 'base64').length} bytes)`);
    say(`  Secret shop/${name}: type ${secret.type ?? '?'}, ${keys.join(', ')}`);
    const crt = secret.data?.['tls.crt'];
    if (crt !== undefined) {
      const pem = Buffer.from(crt, 'base64').toString('utf8');
      const chain = pem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((b) => b.includes('BEGIN CERTIFICATE'));
      const subjects = chain.map((b) => new X509Certificate(b).subject.replace(/\n/g, ', '));
      say(`    tls.crt chain: ${subjects.join(' → issued by → ')}`);
    }
  }
}

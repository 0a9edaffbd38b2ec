/**
 * `kvsync controller` serving the pod webhook: the controller (in-process, as `kvsync controller
 * --webhook-addr 127.0.0.1:0 --webhook-url …` wires it) makes its certificate in the operator
 * namespace, creates the MutatingWebhookConfiguration with the CA bundle, and a Pod with both
 * `kvsync.dev/mount` and an env reference created through the real apiserver is stored with the
 * sidecar and the env wiring; a CA rollover keeps admission working; on stop the server closes.
 *
 * Isolation: the configuration has a unique name and its namespace selectors are confined to this
 * file's namespace (`kubernetes.io/metadata.name In [...]`), the only one here carrying the opt-in
 * label, so it can never intercept another test file's pods.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import { startController, type RunningController } from '../../../src/controller/controller.ts';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { loadAzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { startWebhookController } from './support.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const CLI = join(repo, 'src', 'cli.ts');

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True when nothing accepts a TCP connection on the port. */
async function refused(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return false;
  } catch {
    return true;
  } finally {
    socket.destroy();
  }
}

describe('kvsync controller serves the admission webhook', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const suffix = Math.random().toString(36).slice(2, 8);
  const configName = `kvsync-webhook-ctl-${suffix}`;
  const identityName = `wh-ctl-${suffix}`;
  const namespace = `whctl-${suffix}`;
  let operatorNamespace = '';
  let namespaceCreated = false;
  let emu: RunningEmulator | undefined;
  let controller: RunningController | undefined;
  let work = '';
  let port = 0;

  const appPod = (name: string): k8s.V1Pod => ({
    metadata: { name, annotations: { 'kvsync.dev/mount': 'shop' } },
    spec: { containers: [{ name: 'web', image: 'nginx', env: [{ name: 'DB', value: 'kvsync:shop/password' }] }] },
  });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kvsync-wh-ctl-'));
    emu = await startEmulator({
      stateDir: join(work, 'state'),
      log: () => undefined,
      configDocument: { vaults: [{ name: 'devkv', secrets: [{ name: 'db-password', value: 'wh-ctl-pw-7c20' }] }], managedIdentities: [{ name: 'pod-identity' }] },
    });
    const clientID = emu.config.managedIdentities.find((m) => m.name === 'pod-identity')?.clientId ?? '';
    await installCrds(kc);
    // The opt-in label on the namespace: the only namespace the configuration's selectors admit.
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'kvsync.dev/test': 'true', 'kvsync.dev/inject': 'enabled' } } } });
    namespaceCreated = true;
    operatorNamespace = await createTestNamespace(kc, 'whctl-op');
    await custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'keyvaultidentities',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'KeyVaultIdentity',
        metadata: { name: identityName },
        spec: { type: 'podIdentity', clientID, tenantID: emu.endpoints.tenantID, allowedNamespaces: { names: [namespace] }, allowedVaults: ['devkv'] },
      },
    });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'keyvaultsyncs',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'KeyVaultSync',
        metadata: { name: 'shop', namespace },
        spec: {
          vault: { name: 'devkv', tenantID: emu.endpoints.tenantID },
          identity: { podIdentity: { identityRef: identityName } },
          objects: [{ name: 'db-password', type: 'secret', alias: 'password' }],
          secretObjects: [{ secretName: 'shop-db', type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] }],
          refreshInterval: '1m',
        },
      },
    });
    await pollUntil(() => core.readNamespacedServiceAccount({ namespace, name: 'default' }).then(() => true), { timeoutMs: 30_000, description: 'ServiceAccount default' });

    port = await freePort();
    controller = await startWebhookController(kc, {
      endpointsFile: join(work, 'state', 'endpoints.json'),
      operatorNamespace,
      namespace,
      configurationName: configName,
      port,
      sidecarCommand: [process.execPath, CLI],
    });
  });

  afterAll(async () => {
    await controller?.stop();
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name: identityName }).catch(() => undefined);
    if (namespaceCreated) await deleteTestNamespace(kc, namespace);
    if (operatorNamespace !== '') await deleteTestNamespace(kc, operatorNamespace);
    await emu?.stop();
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('creates the MutatingWebhookConfiguration with the CA bundle from its Secret', async () => {
    const cfg = await admission.readMutatingWebhookConfiguration({ name: configName });
    const secret = await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-tls' });
    expect(cfg.webhooks?.map((w) => w.name)).toEqual(['namespace.pods.kvsync.dev', 'pod.pods.kvsync.dev']);
    for (const w of cfg.webhooks ?? []) {
      expect(w.clientConfig.caBundle).toBe(secret.data?.['ca.crt']);
      expect(w.clientConfig.url).toBe(`https://127.0.0.1:${port}/mutate-pods`);
      expect(w.namespaceSelector?.matchExpressions).toContainEqual({ key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespace] });
      expect(w.namespaceSelector?.matchExpressions).toContainEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', operatorNamespace] });
    }
  });

  it('stores a pod with the mount annotation and an env reference with the sidecar and the env wiring', async () => {
    expect(controller?.webhook?.port).toBe(port);
    // The apiserver picks the configuration up asynchronously: until then a dry run comes back unmutated.
    await pollUntil(async () => ((await core.createNamespacedPod({ namespace, body: appPod('web'), dryRun: 'All' })).spec?.initContainers?.length ?? 0) > 0 || undefined, {
      timeoutMs: 30_000,
      description: 'the webhook to be active',
    });
    await core.createNamespacedPod({ namespace, body: appPod('web') });
    const pod = await core.readNamespacedPod({ namespace, name: 'web' });
    const web = pod.spec?.containers[0];
    expect(web?.env).toEqual([{ name: 'DB', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'DB_PASSWORD' } } }]);
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'kvsync-mount');
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.command).toEqual([process.execPath, CLI]);
    expect(sidecar?.args).toContain('mount');
    expect(web?.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: '/mnt/secrets-store', readOnly: true }));
    expect(pod.spec?.volumes?.some((v) => v.emptyDir?.medium === 'Memory')).toBe(true);
  });

  it('keeps admitting pods across a CA rollover (bundle patched before the new pair is served)', async () => {
    const before = (await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-tls' })).data?.['ca-current.crt'];
    await controller?.webhook?.renew?.('ca');
    const secret = await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-tls' });
    expect(secret.data?.['ca-current.crt']).not.toBe(before);
    const cfg = await admission.readMutatingWebhookConfiguration({ name: configName });
    expect(cfg.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data?.['ca.crt']);
    await pollUntil(() => core.createNamespacedPod({ namespace, body: appPod('after-rollover') }).then(() => true), { timeoutMs: 20_000, description: 'a pod create after the rollover' });
    const pod = await core.readNamespacedPod({ namespace, name: 'after-rollover' });
    expect(pod.spec?.initContainers?.map((c) => c.name)).toContain('kvsync-mount');
  });

  it('a second replica adopts the Secret, updates the configuration in place and closes its server on stop', async () => {
    const azure = await loadAzureEnvironment({ endpointsFile: join(work, 'state', 'endpoints.json'), env: {} });
    const secretVersion = (await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-tls' })).metadata?.resourceVersion;
    const replica = await startController({
      kubeConfig: kc,
      azure,
      namespace: operatorNamespace,
      watchNamespace: namespace,
      leaderElect: true,
      retryPeriodMs: 500,
      log: pino({ level: 'silent' }),
      webhook: {
        addr: '127.0.0.1:0',
        endpoint: { url: `https://127.0.0.1:${port}/mutate-pods` },
        configurationName: configName,
        extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespace] }],
      },
    });
    try {
      // Same Secret, so the same certificate and the same bundle: the replica adopted, did not renew.
      const secret = await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-tls' });
      expect(secret.metadata?.resourceVersion).toBe(secretVersion);
      const cfg = await admission.readMutatingWebhookConfiguration({ name: configName });
      expect(cfg.webhooks?.every((w) => w.clientConfig.caBundle === secret.data?.['ca.crt'])).toBe(true);
      expect(replica.webhook?.port).toBeGreaterThan(0);
    } finally {
      await replica.stop();
    }
    // The stopped replica closed its server: nothing answers on its port any more.
    expect(await refused(replica.webhook?.port ?? 0)).toBe(true);
    // The first one still serves, with the configuration it made.
    expect(await refused(port)).toBe(false);
    const cfg = await admission.readMutatingWebhookConfiguration({ name: configName });
    expect(cfg.webhooks?.[0]?.clientConfig.url).toBe(`https://127.0.0.1:${port}/mutate-pods`);
  });

  it('kvsync controller refuses inconsistent webhook flags', async () => {
    const child = spawn(process.execPath, [CLI, 'controller', '--webhook-url', 'https://127.0.0.1:9443/mutate-pods'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain('--webhook-url needs --webhook-addr');
  });
});

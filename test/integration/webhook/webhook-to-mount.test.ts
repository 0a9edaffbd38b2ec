/**
 * End to end, the way a user sees it: a Pod with `kvsync.dev/env-from` and `kvsync.dev/mount` is
 * created through the real apiserver and stored mutated by the webhook; then the stored sidecar's own
 * command and environment (only the directory, the ready port and the emulator's endpoints file
 * changed, since there is no kubelet) run `kvsync mount` against the Key Vault emulator, with pod
 * identity through its IMDS, and produce the file the app would read.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { renewCertificates } from '../../../src/webhook/certificates.ts';
import { kubeClusterView } from '../../../src/webhook/kube-cluster-view.ts';
import { startWebhookServer } from '../../../src/webhook/server.ts';
import type { RunningWebhook } from '../../../src/webhook/server.ts';
import { webhookConfiguration } from '../../../src/webhook/webhook-configuration.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const CLI = join(repo, 'src', 'cli.ts');
const PASSWORD = 'wh-mount-pw-3d81';

describe('webhook → stored sidecar → kvsync mount against the emulator', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const suffix = Math.random().toString(36).slice(2, 8);
  const configName = `kvsync-webhook-e2e-${suffix}`;
  const identityName = `wh-e2e-${suffix}`;
  let namespace = '';
  let hook: RunningWebhook | undefined;
  let emu: RunningEmulator | undefined;
  let work = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kvsync-wh-e2e-'));
    emu = await startEmulator({
      stateDir: join(work, 'state'),
      log: () => undefined,
      configDocument: { vaults: [{ name: 'devkv', secrets: [{ name: 'db-password', value: PASSWORD }] }], managedIdentities: [{ name: 'pod-identity' }] },
    });
    const clientID = emu.config.managedIdentities.find((m) => m.name === 'pod-identity')?.clientId ?? '';
    await installCrds(kc);
    namespace = await createTestNamespace(kc, 'whe2e');
    await custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'keyvaultidentities',
      body: {
        apiVersion: 'kvsync.dev/v1alpha1',
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
        apiVersion: 'kvsync.dev/v1alpha1',
        kind: 'KeyVaultSync',
        metadata: { name: 'shop', namespace },
        spec: {
          vault: { name: 'devkv', tenantID: emu.endpoints.tenantID },
          identity: { podIdentity: { identityRef: identityName } },
          objects: [{ name: 'db-password', type: 'secret', alias: 'password', filePermission: '0600' }],
          secretObjects: [{ secretName: 'shop-db', type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] }],
          refreshInterval: '1m',
        },
      },
    });
    await pollUntil(() => core.readNamespacedServiceAccount({ namespace, name: 'default' }).then(() => true), { timeoutMs: 30_000, description: 'ServiceAccount default' });

    const certs = await renewCertificates(undefined, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    hook = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      certificate: certs,
      view: kubeClusterView(kc),
      mutation: { operatorNamespace: 'kvsync-system', sidecarImage: 'ghcr.io/kvsync/kvsync:test', sidecarCommand: [process.execPath, CLI] },
    });
    await admission.createMutatingWebhookConfiguration({
      body: webhookConfiguration({
        name: configName,
        operatorNamespace: 'kvsync-system',
        endpoint: { url: `https://127.0.0.1:${hook.port}` },
        caBundlePem: certs.caBundlePem,
        extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespace] }],
      }),
    });
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name: identityName }).catch(() => undefined);
    await hook?.close();
    if (namespace !== '') await deleteTestNamespace(kc, namespace);
    await emu?.stop();
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('stores the pod with env wiring and the sidecar, whose command writes the files', async () => {
    const body: k8s.V1Pod = {
      metadata: { name: 'web', labels: { 'kvsync.dev/inject': 'enabled' }, annotations: { 'kvsync.dev/env-from': 'shop', 'kvsync.dev/mount': 'shop' } },
      spec: { containers: [{ name: 'web', image: 'nginx', env: [{ name: 'DB', value: 'kvsync:shop/password' }] }] },
    };
    // The apiserver picks the configuration up asynchronously: until then a dry run comes back unmutated.
    await pollUntil(
      async () => ((await core.createNamespacedPod({ namespace, body, dryRun: 'All' })).spec?.initContainers?.length ?? 0) > 0 || undefined,
      { timeoutMs: 30_000, description: 'the webhook to be active' },
    );
    await core.createNamespacedPod({ namespace, body });
    const pod = await core.readNamespacedPod({ namespace, name: 'web' });
    const web = pod.spec?.containers[0];
    expect(web?.env).toEqual([{ name: 'DB', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'DB_PASSWORD' } } }]);
    expect(web?.envFrom).toEqual([{ secretRef: { name: 'shop-db' } }]);
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'kvsync-mount');
    if (sidecar === undefined) throw new Error('no sidecar stored');

    // Run what the kubelet would run: the stored command, args and env.
    const dir = join(work, 'secrets-store');
    const args = [...(sidecar.args ?? [])];
    args[args.indexOf('--dir') + 1] = dir;
    args[args.indexOf('--ready-port') + 1] = '0';
    const [bin = '', ...rest] = sidecar.command ?? [];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    for (const e of sidecar.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    expect(env.AZURE_CLIENT_ID).toBe(emu?.config.managedIdentities.find((m) => m.name === 'pod-identity')?.clientId);
    const child = spawn(bin, [...rest, ...args, '--azure-endpoints', join(work, 'state', 'endpoints.json')], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const content = await pollUntil(() => readFile(join(dir, 'password'), 'utf8'), { timeoutMs: 45_000, description: 'the mounted file', isFatal: () => child.exitCode !== null });
      expect(content).toBe(PASSWORD);
      expect(await readlink(join(dir, 'password'))).toBe('..data/password');
      expect(output).not.toContain(PASSWORD);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nsidecar output:\n${output.slice(-2000)}`, { cause: err });
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

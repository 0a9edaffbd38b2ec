/**
 * The README's "Secrets in pods" flow, end to end on the real control plane: the emulator seeded from
 * samples/emulator.yaml, `kvsync controller` serving the webhook (in-process, as
 * `--webhook-addr … --webhook-url …` wires it), samples/pod.yaml applied. The Pod is stored with the
 * native sidecar and the env wiring, and the controller syncs the Secret the env refers to. Then the
 * STORED sidecar's args run as `node src/cli.ts` (what the image's `kvsync` is), with only what a local
 * run needs changed — `--dir` (no kubelet volume here), `--ready-port 0` (parallel tests) and
 * `--azure-endpoints` — and the stored env: pod identity through the emulator's IMDS. The files appear
 * in kubelet's `..data` layout, and a new version in Key Vault reaches both the files and the Secret.
 *
 * Isolation: the sample's namespace and KeyVaultIdentity get a random suffix; the webhook
 * configuration has a unique name and selectors confined to that namespace.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { freePort } from '../../../src/dev/ports.ts';
import { emulatorAgent } from '../../../src/keyvault/endpoints-file.ts';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { startWebhookController } from './support.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const CLI = join(repo, 'src', 'cli.ts');
const SAMPLE_VALUE = 'correct-horse-battery-staple'; // db-password in samples/emulator.yaml
const ROTATED_VALUE = 'rotated-pod-flow-5e1c';

interface SampleObject extends k8s.KubernetesObject {
  spec?: Record<string, unknown>;
}

/** samples/pod.yaml with its namespace and KeyVaultIdentity renamed, so parallel runs do not meet. */
async function loadPodSample(namespace: string, identityName: string): Promise<SampleObject[]> {
  const text = await readFile(join(repo, 'samples', 'pod.yaml'), 'utf8');
  return parseAllDocuments(text).map((doc) => {
    const obj = doc.toJS() as SampleObject;
    const json = JSON.stringify(obj)
      .replaceAll('"web-pod-identity"', JSON.stringify(identityName))
      .replaceAll('"namespace":"web"', `"namespace":${JSON.stringify(namespace)}`)
      .replaceAll('"names":["web"]', `"names":[${JSON.stringify(namespace)}]`);
    const renamed = JSON.parse(json) as SampleObject;
    if (renamed.kind === 'Namespace') renamed.metadata = { ...renamed.metadata, name: namespace, labels: { ...renamed.metadata?.labels, 'kvsync.dev/test': 'true' } };
    return renamed;
  });
}

describe('README "Secrets in pods": samples/pod.yaml through the controller webhook, the stored sidecar against the emulator', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const suffix = Math.random().toString(36).slice(2, 8);
  const namespace = `web-${suffix}`;
  const identityName = `web-pod-identity-${suffix}`;
  const configName = `kvsync-webhook-podflow-${suffix}`;
  let operatorNamespace = '';
  let sample: SampleObject[] = [];
  let emu: RunningEmulator | undefined;
  let controller: RunningController | undefined;
  let work = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kvsync-pod-flow-'));
    emu = await startEmulator({ configFile: join(repo, 'samples', 'emulator.yaml'), stateDir: join(work, 'state'), log: () => undefined });
    await installCrds(kc);
    operatorNamespace = await createTestNamespace(kc, 'podflow-op');
    sample = await loadPodSample(namespace, identityName);
    // Everything but the Pod: the Pod is created once the apiserver calls the webhook.
    for (const obj of sample.filter((o) => o.kind !== 'Pod')) {
      await objects.create(obj);
    }
    await pollUntil(() => core.readNamespacedServiceAccount({ namespace, name: 'default' }).then(() => true), { timeoutMs: 30_000, description: 'ServiceAccount default' });

    // The default sidecar image and command, as the README's controller stores them.
    controller = await startWebhookController(kc, { endpointsFile: join(work, 'state', 'endpoints.json'), operatorNamespace, namespace, configurationName: configName, port: await freePort() });
  });

  afterAll(async () => {
    await controller?.stop();
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name: identityName }).catch(() => undefined);
    await deleteTestNamespace(kc, namespace).catch(() => undefined);
    if (operatorNamespace !== '') await deleteTestNamespace(kc, operatorNamespace);
    await emu?.stop();
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('stores the Pod with the sidecar and env wiring; the stored sidecar command writes the files and rotates them', async () => {
    const podObject = sample.find((o) => o.kind === 'Pod') as k8s.V1Pod | undefined;
    if (podObject === undefined) throw new Error('samples/pod.yaml has no Pod');
    // The apiserver picks the configuration up asynchronously: until then a dry run comes back unmutated.
    await pollUntil(
      async () => ((await core.createNamespacedPod({ namespace, body: podObject, dryRun: 'All' })).spec?.initContainers?.length ?? 0) > 0 || undefined,
      { timeoutMs: 60_000, description: 'the webhook to be active' },
    );
    await core.createNamespacedPod({ namespace, body: podObject });

    // What `kubectl get pod web -o jsonpath=…` shows in the README.
    const pod = await core.readNamespacedPod({ namespace, name: 'web' });
    const app = pod.spec?.containers.find((c) => c.name === 'app');
    expect(app?.env).toEqual([{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'web-db', key: 'DB_PASSWORD' } } }]);
    expect(app?.envFrom).toEqual([{ secretRef: { name: 'web-db' } }]);
    expect(app?.volumeMounts).toContainEqual({ name: 'kvsync-secrets-store', mountPath: '/mnt/secrets-store', readOnly: true });
    expect(pod.spec?.volumes).toContainEqual({ name: 'kvsync-secrets-store', emptyDir: { medium: 'Memory', sizeLimit: '32Mi' } });
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'kvsync-mount');
    if (sidecar === undefined) throw new Error('no sidecar stored');
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.command).toEqual(['kvsync']);
    const args = [...(sidecar.args ?? [])];
    expect(args.slice(0, 2)).toEqual(['mount', '--spec-json']);
    expect(args.slice(3)).toEqual(['--dir', '/mnt/secrets-store', '--ready-port', '9808']);
    const clientID = emu?.config.managedIdentities.find((m) => m.name === 'node-identity')?.clientId;
    expect(sidecar.env).toEqual([{ name: 'AZURE_CLIENT_ID', value: clientID }]);

    // The controller syncs the Secret the env wiring points at.
    const secretValue = async (): Promise<string | undefined> => {
      const secret = await core.readNamespacedSecret({ namespace, name: 'web-db' }).catch(() => undefined);
      const b64 = secret?.data?.DB_PASSWORD;
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
    };
    expect(await pollUntil(async () => (await secretValue()) === SAMPLE_VALUE || undefined, { timeoutMs: 60_000, description: 'Secret web-db synced' })).toBe(true);

    // Run what the kubelet would run, the way the README does: `kvsync` is `node src/cli.ts` here.
    const dir = join(work, 'web-secrets');
    args[args.indexOf('--dir') + 1] = dir;
    args[args.indexOf('--ready-port') + 1] = '0';
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    for (const e of sidecar.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const child = spawn(process.execPath, [CLI, ...args, '--azure-endpoints', join(work, 'state', 'endpoints.json')], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const fatal = (): boolean => child.exitCode !== null;
    try {
      const first = await pollUntil(() => readFile(join(dir, 'password'), 'utf8'), { timeoutMs: 60_000, description: 'the mounted file', isFatal: fatal });
      expect(first).toBe(SAMPLE_VALUE);
      // kubelet's atomic-writer layout: per-file links into ..data, ..data a link to a timestamped directory.
      expect(await readlink(join(dir, 'password'))).toBe('..data/password');
      expect(await readlink(join(dir, 'tls.pem'))).toBe('..data/tls.pem');
      const firstData = await readlink(join(dir, '..data'));
      expect(firstData).toMatch(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d{9}$/);
      expect((await lstat(join(dir, firstData, 'password'))).mode & 0o777).toBe(0o440);
      const pem = await readFile(join(dir, 'tls.pem'), 'utf8');
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(pem.match(/-----BEGIN CERTIFICATE-----/g)?.length).toBe(2); // leaf + intermediate

      // Rotation: a new version in Key Vault reaches the file (the sidecar's 10 s interval) and the Secret.
      const ep = emu?.endpoints;
      if (ep === undefined || emu === undefined) throw new Error('no emulator');
      const credential = new ClientSecretCredential(ep.tenantID, ep.admin.clientID, ep.admin.clientSecret, { authorityHost: ep.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: emu.caPem } });
      await new SecretClient(ep.vaults.devkv ?? '', credential, { agent: emulatorAgent(ep, emu.caPem) }).setSecret('db-password', ROTATED_VALUE);
      await pollUntil(async () => (await readFile(join(dir, 'password'), 'utf8')) === ROTATED_VALUE || undefined, { timeoutMs: 90_000, description: 'the rotated file', isFatal: fatal });
      expect(await readlink(join(dir, '..data'))).not.toBe(firstData);
      expect(await pollUntil(async () => (await secretValue()) === ROTATED_VALUE || undefined, { timeoutMs: 90_000, description: 'Secret web-db rotated' })).toBe(true);
      expect(output).not.toContain(SAMPLE_VALUE);
      expect(output).not.toContain(ROTATED_VALUE);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nsidecar output:\n${output.slice(-2000)}`, { cause: err });
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

/**
 * `helm install`, `helm upgrade` and `helm uninstall` of charts/kvsync against the real apiserver,
 * with helm built from its Go module. No kubelet runs here, so the chart's pods never start: instead
 * `kvsync controller` runs as a process on this machine WITH THE ARGS OF THE INSTALLED DEPLOYMENT,
 * AUTHENTICATED AS THE INSTALLED ServiceAccount (a kubeconfig holding its TokenRequest token), and
 * syncs a KeyVaultSync from the emulator. The release watches only a test namespace (the control plane
 * is shared), and the webhook is off: its configuration is cluster-wide and would reach other test
 * files' opt-in pods (rbac.test.ts covers it, confined).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import { runHelm, type HelmBinary } from '../../../src/dev/helm.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { conditionOf, createCredentialsSecret, startWorld, syncApi, syncSpec, type TestWorld } from '../controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';
import { CHART_DIR, helmBinary, serviceAccountToken, tokenKubeConfig } from './support.ts';

const CLI = new URL('../../../src/cli.ts', import.meta.url).pathname;

describe('helm install / upgrade / uninstall of charts/kvsync on the local apiserver', () => {
  const kc = kubeConfig();
  const release = `kvsync-i${Math.random().toString(36).slice(2, 7)}`;
  let ns = '';
  let appNs = '';
  let dir = '';
  let world: TestWorld | undefined;
  let helm: HelmBinary;
  let installed = false;
  let child: ChildProcess | undefined;
  const helmArgs = (): string[] => ['--kubeconfig', inject('kubeconfig'), '--namespace', ns];

  beforeAll(async () => {
    helm = await helmBinary();
    dir = await mkdtemp(join(tmpdir(), 'kvsync-chart-install-'));
    await installCrds(kc);
    world = await startWorld();
    ns = await createTestNamespace(kc, 'chart-install');
    appNs = await createTestNamespace(kc, 'chart-install-app');
    await createCredentialsSecret(kc, appNs, world);
  }, 900_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    if (installed) await runHelm(helm, ['uninstall', release, ...helmArgs()]).catch(() => undefined);
    await world?.emu.stop();
    if (ns) await deleteTestNamespace(kc, ns);
    if (appNs) await deleteTestNamespace(kc, appNs);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs: the Deployment, its ServiceAccount, RBAC, Services and PDB exist', async () => {
    const out = await runHelm(helm, ['install', release, CHART_DIR, ...helmArgs(), '--set', 'webhook.enabled=false', '--set', `watchNamespace=${appNs}`]);
    installed = true;
    expect(out).toContain('STATUS: deployed');
    expect(out).toContain(`kvsync 0.1.0 is installed in namespace ${ns} (2 replicas, leader election on)`);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const d = await apps.readNamespacedDeployment({ namespace: ns, name: release });
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.template.spec?.serviceAccountName).toBe(release);
    await kc.makeApiClient(k8s.CoreV1Api).readNamespacedService({ namespace: ns, name: `${release}-metrics` });
    await kc.makeApiClient(k8s.PolicyV1Api).readNamespacedPodDisruptionBudget({ namespace: ns, name: release });
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.readClusterRole({ name: `${release}-cluster` });
    await rbac.readClusterRoleBinding({ name: `${release}-cluster` });
    await rbac.readNamespacedRoleBinding({ namespace: appNs, name: `${release}-sync` });
    await rbac.readNamespacedRole({ namespace: ns, name: release });
  });

  it('runs `kvsync controller` with the installed Deployment\'s args as the installed ServiceAccount: ready, leader, a KeyVaultSync synced; exits 0 on SIGTERM', async () => {
    if (world === undefined) throw new Error('no emulator');
    const deployment = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ namespace: ns, name: release });
    const pod = deployment.spec?.template.spec;
    const installedArgs = pod?.containers[0]?.args ?? [];
    expect(installedArgs[0]).toBe('controller');
    const kubeconfigFile = join(dir, 'serviceaccount.kubeconfig');
    const token = await serviceAccountToken(kc, ns, pod?.serviceAccountName ?? '');
    await writeFile(kubeconfigFile, tokenKubeConfig(inject('kubeServer'), inject('kubeCaPem'), token, `system:serviceaccount:${ns}:${release}`).exportConfig(), { mode: 0o600 });
    // Out of cluster: the kubeconfig instead of the in-cluster token, the emulator's endpoints, and
    // health on a free loopback port instead of 0.0.0.0:8081.
    const args = [...installedArgs.filter((a) => !a.startsWith('--health-addr=')), '--health-addr=127.0.0.1:0', '--kubeconfig', kubeconfigFile, '--azure-endpoints', world.endpointsFile];
    child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: { msg?: string; health?: string; level?: number }[] = [];
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l) as { msg?: string; health?: string });
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    const started = await pollUntil(() => lines.find((l) => l.msg === 'controller started'), {
      timeoutMs: 60_000,
      intervalMs: 200,
      description: 'the "controller started" log line',
      isFatal: () => child?.exitCode !== null,
    }).catch((err: unknown) => {
      throw new Error(`kvsync controller did not start: ${String(err)}\n${stderr}`, { cause: err });
    });
    const ready = await pollUntil(async () => ((await fetch(`http://${started.health ?? ''}/readyz`)).status === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, description: '/readyz 200' });
    expect(ready).toBe(true);
    const lease = await pollUntil(
      async () => {
        const l = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ namespace: ns, name: 'kvsync-controller' }).catch(() => undefined);
        return l?.spec?.holderIdentity !== undefined ? l : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'the Lease held' },
    );
    expect(lease.spec?.holderIdentity).toBeTruthy();

    const syncs = syncApi(kc);
    await syncs.create(appNs, 'web', syncSpec(world, {
      objects: [{ name: 'shop-tls', type: 'certificate' }],
      secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] }],
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(appNs, 'web'), 'Ready')?.status === 'True' ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 300,
      description: 'KeyVaultSync Ready, synced by the process running as the installed ServiceAccount',
    });
    expect((await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace: appNs, name: 'web-tls' })).type).toBe('kubernetes.io/tls');
    // No request was refused along the way.
    expect(lines.filter((l) => JSON.stringify(l).includes('"code":403'))).toEqual([]);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 180_000);

  it('upgrades with changed values', async () => {
    await runHelm(helm, ['upgrade', release, CHART_DIR, ...helmArgs(), '--reuse-values', '--set', 'replicaCount=3', '--set', 'logLevel=debug']);
    const d = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ namespace: ns, name: release });
    expect(d.spec?.replicas).toBe(3);
    expect(d.spec?.template.spec?.containers[0]?.args).toContain('--log-level=debug');
    expect(JSON.parse(await runHelm(helm, ['status', release, ...helmArgs(), '--output', 'json'])) as { version: number }).toMatchObject({ version: 2 });
  });

  it('uninstalls, cluster-scoped objects included', async () => {
    await runHelm(helm, ['uninstall', release, ...helmArgs()]);
    installed = false;
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    for (const name of [`${release}-cluster`, `${release}-sync`]) {
      expect(statusOf(await rbac.readClusterRole({ name }).catch((e: unknown) => e))).toBe(404);
    }
    expect(statusOf(await rbac.readClusterRoleBinding({ name: `${release}-cluster` }).catch((e: unknown) => e))).toBe(404);
    expect(statusOf(await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ namespace: ns, name: release }).catch((e: unknown) => e))).toBe(404);
  });
});

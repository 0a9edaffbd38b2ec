/**
 * `helm install`, `helm upgrade` and `helm uninstall` of charts/kvsync against the real apiserver,
 * with helm built from its Go module. (No kubelet runs here, so the pods are never started; the chart
 * RBAC test runs the controller itself.) The webhook is off: its MutatingWebhookConfiguration is
 * cluster-wide and would reach other test files' opt-in pods; the RBAC test covers it, confined.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runHelm, type HelmBinary } from '../../../src/dev/helm.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';
import { CHART_DIR, helmBinary } from './support.ts';

describe('helm install / upgrade / uninstall of charts/kvsync on the local apiserver', () => {
  const kc = kubeConfig();
  const release = `kvsync-i${Math.random().toString(36).slice(2, 7)}`;
  let ns = '';
  let helm: HelmBinary;
  let installed = false;
  const helmArgs = (): string[] => ['--kubeconfig', inject('kubeconfig'), '--namespace', ns];

  beforeAll(async () => {
    helm = await helmBinary();
    ns = await createTestNamespace(kc, 'chart-install');
  }, 900_000);

  afterAll(async () => {
    if (installed) await runHelm(helm, ['uninstall', release, ...helmArgs()]).catch(() => undefined);
    if (ns) await deleteTestNamespace(kc, ns);
  });

  it('installs: the Deployment, its ServiceAccount, RBAC, Services and PDB exist', async () => {
    const out = await runHelm(helm, ['install', release, CHART_DIR, ...helmArgs(), '--set', 'webhook.enabled=false']);
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
    await rbac.readClusterRoleBinding({ name: `${release}-sync` });
    await rbac.readNamespacedRole({ namespace: ns, name: release });
  });

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
      expect(statusOf(await rbac.readClusterRoleBinding({ name }).catch((e: unknown) => e))).toBe(404);
    }
    expect(statusOf(await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ namespace: ns, name: release }).catch((e: unknown) => e))).toBe(404);
  });
});

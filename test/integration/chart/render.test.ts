/**
 * charts/kvsync rendered by helm built from its Go module: lint, the CRDs kept identical to crds/,
 * the strict values schema, the controller's args parsed by `kvsync controller`'s own parser, the
 * webhooks equal to what the controller writes, the hardened pod, and every rendered manifest
 * (default values and every optional feature on) accepted by the real apiserver in a server-side dry run.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import { parseControllerArgs } from '../../../src/controller/command.ts';
import { runHelm, HelmError } from '../../../src/dev/helm.ts';
import { applyWebhookConfiguration } from '../../../src/controller/webhook.ts';
import { webhookConfiguration } from '../../../src/webhook/webhook-configuration.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { apply, byKind, CHART_DIR, controllerArgs, expandAsKubelet, helmBinary, oneOf, renderChart, serviceMonitorCrd, type Rendered } from './support.ts';
import { allFeaturesValues } from './values.ts';

const REPO_CRDS = fileURLToPath(new URL('../../../crds/', import.meta.url));

describe('charts/kvsync', () => {
  const kc = kubeConfig();
  let dir = '';
  let ns = '';
  let watched = '';
  let defaults: Rendered[] = [];
  let everything: Rendered[] = [];
  let smCrdName: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvsync-chart-'));
    await helmBinary();
    ns = await createTestNamespace(kc, 'chart');
    watched = await createTestNamespace(kc, 'chart-w');
    defaults = await renderChart({ release: 'kvsync', namespace: ns, dir });
    everything = await renderChart({ release: 'kvsync', namespace: ns, dir, values: allFeaturesValues(watched) });
  }, 900_000);

  afterAll(async () => {
    if (smCrdName !== undefined) await kc.makeApiClient(k8s.ApiextensionsV1Api).deleteCustomResourceDefinition({ name: smCrdName }).catch(() => undefined);
    if (ns) await deleteTestNamespace(kc, ns);
    if (watched) await deleteTestNamespace(kc, watched);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds the same CRD files as the repository crds/ folder', async () => {
    const repo = (await readdir(REPO_CRDS)).sort();
    const chart = (await readdir(join(CHART_DIR, 'crds'))).sort();
    expect(chart).toEqual(repo);
    for (const f of repo) {
      expect(await readFile(join(CHART_DIR, 'crds', f), 'utf8'), `charts/kvsync/crds/${f} differs from crds/${f}; copy it over`).toBe(await readFile(join(REPO_CRDS, f), 'utf8'));
    }
  });

  it('passes helm lint --strict with default values and with every optional feature on', async () => {
    const helm = await helmBinary();
    expect(await runHelm(helm, ['lint', '--strict', CHART_DIR])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const valuesFile = join(dir, 'all.yaml');
    await writeFile(valuesFile, stringify(allFeaturesValues(watched)));
    expect(await runHelm(helm, ['lint', '--strict', CHART_DIR, '--values', valuesFile])).toMatch(/0 chart\(s\) failed/);
  });

  it('rejects values the schema does not know, wrongly typed ones, and unsafe combinations', async () => {
    for (const values of [{ replicas: 2 }, { webhook: { enable: true } }, { replicaCount: 'two' }, { logLevel: 'verbose' }, { extraArgs: ['controller'] }, { expiryWarningWindow: '30d' }]) {
      const err = await renderChart({ release: 'kvsync', namespace: ns, dir, values }).catch((e: unknown) => e);
      expect(err, JSON.stringify(values)).toBeInstanceOf(HelmError);
      expect((err as HelmError).message).toMatch(/schema/);
    }
    const noLeader = await renderChart({ release: 'kvsync', namespace: ns, dir, values: { leaderElection: { enabled: false } } }).catch((e: unknown) => e);
    expect((noLeader as HelmError).message).toContain('leaderElection.enabled=false needs replicaCount 1');
    const single = await renderChart({ release: 'kvsync', namespace: ns, dir, values: { leaderElection: { enabled: false }, replicaCount: 1 } });
    expect(controllerArgs(single)).toContain('--leader-elect=false');
    expect(byKind(single, 'PodDisruptionBudget')).toEqual([]); // minAvailable 1 of 1 would block drains
    const noAuth = await renderChart({ release: 'kvsync', namespace: ns, dir, values: { eventGrid: { enabled: true } } }).catch((e: unknown) => e);
    expect((noAuth as HelmError).message).toContain('eventGrid.enabled needs eventGrid.keySecret.name and/or eventGrid.audiences');
  });

  it('renders controller args that `kvsync controller` parses, default and with every feature on', () => {
    for (const objects of [defaults, everything]) {
      const args = expandAsKubelet(objects);
      expect(args[0]).toBe('controller');
      const parsed = parseControllerArgs(args.slice(1));
      expect(parsed, `kvsync controller rejected ${JSON.stringify(args)}`).not.toBeTypeOf('number');
      if (typeof parsed === 'number') continue;
      expect(parsed.values.namespace).toBe(ns);
      expect(parsed.leaderElect).toBe(true);
      expect(parsed.webhook?.endpoint).toEqual({ service: 'kvsync-webhook' });
    }
    const all = controllerArgs(everything);
    expect(all).toContain('--eventgrid-pod=$(POD_NAME)');
    expect(all).toContain(`--watch-namespace=${watched}`);
    expect(all).toContain('--allowed-vault-hosts=*.vault.contoso.local,kv.internal.example:8443');
    expect(all).toContain('--webhook-cert-dir=/etc/kvsync/webhook-tls');
    expect(all).toContain('--vault-requests-per-10s=200');
    expect(all).toContain('--object-cache-max-bytes=32Mi');
    expect(all).toContain('--expiry-warning-window=720h');
    expect(all).toContain('--eventgrid-key-file=/etc/kvsync/eventgrid/key');
    // One flag with a comma list: a repeated string flag would keep only its last value.
    expect(all).toContain('--eventgrid-audience=api://kvsync-eventgrid,https://eventgrid.example');
  });

  it('ships exactly the webhooks the controller writes (without the CA bundle it patches in)', () => {
    const mwc = oneOf(defaults, 'MutatingWebhookConfiguration', 'kvsync-webhook') as unknown as k8s.V1MutatingWebhookConfiguration;
    const desired = webhookConfiguration({ name: 'kvsync-webhook', operatorNamespace: ns, endpoint: { service: { namespace: ns, name: 'kvsync-webhook', port: 443 } } });
    const withoutBundle = JSON.parse(JSON.stringify(desired.webhooks)) as unknown;
    expect(mwc.webhooks).toEqual(withoutBundle);
    // The controller merges its labels in: the chart sets the same managed-by, so they never fight.
    expect(mwc.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe(desired.metadata?.labels?.['app.kubernetes.io/managed-by']);
    const svc = oneOf(defaults, 'Service', 'kvsync-webhook') as unknown as k8s.V1Service;
    expect(svc.spec?.ports?.[0]).toMatchObject({ port: 443, targetPort: 'webhook' });
  });

  it('lets helm re-apply its webhook configuration after the controller updated it (no field conflict, the CA bundle kept)', async () => {
    // The chart's configuration under a unique name, confined to a namespace that does not exist:
    // it can never reach a pod of another test file.
    const name = `kvsync-webhook-ssa-${Math.random().toString(36).slice(2, 7)}`;
    const nowhere: k8s.V1LabelSelectorRequirement = { key: 'kubernetes.io/metadata.name', operator: 'In', values: [`${name}-nowhere`] };
    const chart = structuredClone(oneOf(defaults, 'MutatingWebhookConfiguration')) as unknown as k8s.V1MutatingWebhookConfiguration;
    chart.metadata = { ...chart.metadata, name };
    for (const w of chart.webhooks ?? []) w.namespaceSelector?.matchExpressions?.push(nowhere);
    const helmApply = (): Promise<k8s.KubernetesObject> => apply(kc, chart as unknown as Rendered, false, { fieldManager: 'helm' });
    const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    try {
      await helmApply();
      // What the controller does at start and on renewal (src/controller/webhook.ts).
      const caPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from('not parsed by the apiserver').toString('base64')}\n-----END CERTIFICATE-----\n`;
      const desired = webhookConfiguration({ name, operatorNamespace: ns, endpoint: { service: { namespace: ns, name: 'kvsync-webhook', port: 443 } }, caBundlePem: caPem, extraNamespaceRequirements: [nowhere] });
      await applyWebhookConfiguration(kc, desired, caPem);
      await helmApply(); // `helm upgrade`: a conflict would be a 409 here
      const stored = await api.readMutatingWebhookConfiguration({ name });
      for (const w of stored.webhooks ?? []) expect(w.clientConfig.caBundle, w.name).toBe(Buffer.from(caPem).toString('base64'));
      expect(stored.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('kvsync');
    } finally {
      await api.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
    }
  });

  it('runs two hardened replicas with leader election, probes, a PDB and topology spread', () => {
    const d = oneOf(defaults, 'Deployment') as unknown as k8s.V1Deployment;
    expect(d.spec?.replicas).toBe(2);
    const pod = d.spec?.template.spec;
    const c = pod?.containers[0];
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c?.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'health' });
    expect(c?.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'health' });
    expect(c?.resources?.requests).toBeDefined();
    expect(c?.resources?.limits?.memory).toBeDefined();
    expect(pod?.topologySpreadConstraints?.[0]?.topologyKey).toBe('kubernetes.io/hostname');
    expect(controllerArgs(defaults)).toContain('--leader-elect=true');
    expect((oneOf(defaults, 'PodDisruptionBudget') as unknown as k8s.V1PodDisruptionBudget).spec?.minAvailable).toBe(1);
  });

  it('grants nothing cluster-wide that is not needed: no wildcards, deletes only of Secrets (pruning, fenced by the secret-deletes policy) and of derived KeyVaultSyncs (fenced by the keyvaultsyncs policy), TokenRequest only on serviceaccounts/token', () => {
    for (const objects of [defaults, everything]) {
      for (const role of [...byKind(objects, 'ClusterRole'), ...byKind(objects, 'Role')]) {
        for (const rule of (role as unknown as k8s.V1ClusterRole).rules ?? []) {
          expect(rule.verbs).not.toContain('*');
          expect(rule.resources ?? []).not.toContain('*');
          expect(rule.apiGroups ?? []).not.toContain('*');
          // Pruning deletes Secrets kvsync owns (the secret-deletes admission policy refuses any other);
          // KeyVaultSyncs derived from an Ingress or Gateway go when their annotation goes (the
          // keyvaultsyncs policy admits no other).
          const secrets = rule.resources?.length === 1 && rule.resources[0] === 'secrets';
          const derivedSyncs = JSON.stringify(rule.apiGroups) === '["kvsync.dev"]' && JSON.stringify(rule.resources) === '["keyvaultsyncs"]';
          if (!secrets && !derivedSyncs) expect(rule.verbs).not.toContain('delete');
          expect(rule.verbs).not.toContain('deletecollection');
          if (rule.resources?.includes('serviceaccounts/token')) expect(rule.verbs).toEqual(['create']);
          if (rule.resources?.includes('serviceaccounts')) expect(rule.verbs).toEqual(['get']);
          if (rule.resources?.includes('mutatingwebhookconfigurations')) expect(rule.resourceNames).toEqual(['kvsync-webhook']);
          if (rule.resources?.includes('leases') && !rule.verbs.every((v) => v === 'create')) expect(rule.resourceNames).toEqual(['kvsync-controller']);
        }
      }
    }
    for (const objects of [defaults, everything]) expect(byKind(objects, 'ValidatingAdmissionPolicy').map((p) => p.metadata.name)).toContain('kvsync-secret-deletes');
    // Pods: only with Event Grid, only patch (its own leader label), only in the release namespace.
    const podRules = (objects: readonly Rendered[], kind: string): k8s.V1PolicyRule[] =>
      byKind(objects, kind).flatMap((r) => ((r as unknown as k8s.V1Role).rules ?? []).filter((rule) => rule.resources?.includes('pods')));
    expect(podRules(defaults, 'Role')).toEqual([]);
    expect(podRules(everything, 'Role')).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
    expect([...podRules(defaults, 'ClusterRole'), ...podRules(everything, 'ClusterRole')]).toEqual([]);
    // watchNamespace: the namespaced permissions are bound in that namespace only.
    const sync = oneOf(everything, 'RoleBinding', 'kvsync-sync') as unknown as k8s.V1RoleBinding;
    expect(sync.metadata?.namespace).toBe(watched);
    expect(byKind(everything, 'ClusterRoleBinding').map((b) => b.metadata.name)).toEqual(['kvsync-cluster']);
  });

  it('adds the identity wiring: workload identity client-id annotation and label, aadpodidbinding', () => {
    const sa = oneOf(everything, 'ServiceAccount') as unknown as k8s.V1ServiceAccount;
    expect(sa.metadata?.annotations).toMatchObject({ 'azure.workload.identity/client-id': '7d5a0c9e-5b1f-4c1e-9a53-0d2f5e8b6a11', 'example.com/owner': 'platform' });
    const labels = (oneOf(everything, 'Deployment') as unknown as k8s.V1Deployment).spec?.template.metadata?.labels;
    expect(labels).toMatchObject({ 'azure.workload.identity/use': 'true', aadpodidbinding: 'kvsync-operator' });
    expect((oneOf(defaults, 'ServiceAccount') as unknown as k8s.V1ServiceAccount).metadata?.annotations).toBeUndefined();
  });

  it('has every rendered manifest accepted by the apiserver in a server-side dry run (default and every feature on)', async () => {
    await installCrds(kc);
    const crd = await serviceMonitorCrd();
    smCrdName = crd.metadata.name;
    await apply(kc, crd, false);
    await pollUntil(
      async () => {
        const got = await kc.makeApiClient(k8s.ApiextensionsV1Api).readCustomResourceDefinition({ name: crd.metadata.name });
        return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'ServiceMonitor CRD established' },
    );
    const kinds = new Set<string>();
    for (const objects of [defaults, everything]) {
      for (const obj of objects) {
        try {
          await apply(kc, obj, true);
        } catch (err) {
          throw new Error(`the apiserver rejected ${obj.kind} ${obj.metadata.name}: ${err instanceof k8s.ApiException ? String(err.body) : String(err)}`, { cause: err });
        }
        kinds.add(obj.kind);
      }
    }
    expect([...kinds].sort()).toEqual(
      ['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'MutatingWebhookConfiguration', 'NetworkPolicy', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ServiceMonitor', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].sort(),
    );
    // A dry run stores nothing.
    const stored = await k8s.KubernetesObjectApi.makeApiClient(kc).list('apps/v1', 'Deployment', ns);
    expect(stored.items).toEqual([]);
  }, 180_000);
});


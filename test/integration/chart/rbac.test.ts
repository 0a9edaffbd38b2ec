/**
 * The chart's RBAC is enough, and not too much: the rendered ServiceAccount, ClusterRoles, Role and
 * bindings are applied for real, and the controller runs out of cluster AUTHENTICATED AS THAT
 * ServiceAccount (a kubeconfig holding its TokenRequest token, not the admin's), configured from the
 * chart's rendered args (parsed by `kvsync controller`'s own parser). It leads, keeps its MAC key,
 * serves the webhook (its certificate Secret, the chart's MutatingWebhookConfiguration updated),
 * syncs a KeyVaultSync from the emulator into a TLS and an Opaque Secret, rolls its restart target
 * when the data changes, labels its own pod for Event Grid, admits a pod, and fills the TLS Secret
 * an annotated Ingress asks for (watching Ingresses, creating the derived KeyVaultSync, events on the
 * Ingress); writes the chart does not grant are refused by the apiserver.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import { controllerOptions, parseControllerArgs } from '../../../src/controller/command.ts';
import { startController, type RunningController } from '../../../src/controller/controller.ts';
import { MAC_KEY_SECRET } from '../../../src/controller/mac.ts';
import { freePort } from '../../../src/dev/ports.ts';
import { loadAzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { conditionOf, createCredentialsSecret, startWorld, syncApi, syncSpec, type TestWorld } from '../controller/support.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';
import { apply, expandAsKubelet, oneOf, RBAC_KINDS, renderChart, serviceAccountToken, tokenKubeConfig, type Rendered } from './support.ts';

const LEADER_POD = 'kvsync-7c9d5b8f4-q8m2z';

describe('the chart RBAC, used by a controller running as the chart ServiceAccount', () => {
  const admin = kubeConfig();
  const suffix = Math.random().toString(36).slice(2, 7);
  const release = `kvsync-${suffix}`;
  let dir = '';
  let opNs = '';
  let appNs = '';
  let world: TestWorld | undefined;
  let rendered: Rendered[] = [];
  let asSa: k8s.KubeConfig;
  let controller: RunningController | undefined;
  const clusterScoped: Rendered[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvsync-chart-rbac-'));
    await installCrds(admin);
    world = await startWorld();
    opNs = await createTestNamespace(admin, 'chart-op');
    appNs = await createTestNamespace(admin, 'chart-app');
    await createCredentialsSecret(admin, appNs, world);
    // Every feature that needs RBAC: the webhook (default), rollouts (default), Event Grid (its pod label).
    rendered = await renderChart({ release, namespace: opNs, dir, values: { eventGrid: { enabled: true, keySecret: { name: 'kvsync-eventgrid' } } } });

    // The chart's RBAC, applied for real.
    for (const obj of rendered.filter((o) => (RBAC_KINDS as readonly string[]).includes(o.kind))) {
      await apply(admin, obj, false);
      if (obj.kind.startsWith('Cluster')) clusterScoped.push(obj);
    }
    // The chart's MutatingWebhookConfiguration, confined to this test's namespace: the control plane
    // is shared with other test files whose pods must never reach this webhook.
    const mwc = structuredClone(oneOf(rendered, 'MutatingWebhookConfiguration')) as unknown as k8s.V1MutatingWebhookConfiguration;
    for (const w of mwc.webhooks ?? []) w.namespaceSelector?.matchExpressions?.push(confinement(appNs));
    await apply(admin, mwc as unknown as Rendered, false);
    clusterScoped.push(oneOf(rendered, 'MutatingWebhookConfiguration'));

    const sa = oneOf(rendered, 'ServiceAccount').metadata.name;
    asSa = tokenKubeConfig(inject('kubeServer'), inject('kubeCaPem'), await serviceAccountToken(admin, opNs, sa), `system:serviceaccount:${opNs}:${sa}`);

    // The replica's pod (never started: no kubelet), which the leader labels for Event Grid.
    await admin.makeApiClient(k8s.CoreV1Api).createNamespacedPod({ namespace: opNs, body: { metadata: { name: LEADER_POD }, spec: { containers: [{ name: 'controller', image: 'ghcr.io/kvsync/kvsync:0.1.0' }] } } });
    // The restart target of the KeyVaultSync below.
    await admin.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace: appNs,
      body: { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] } } } },
    });

    // The chart's args as kubelet expands them and `kvsync controller` parses and maps them. Out of
    // cluster: the apiserver reaches the webhook by URL instead of the Service, servers listen on
    // loopback, and the Event Grid key file is a local one instead of the mounted Secret.
    const args = parseControllerArgs(expandAsKubelet(rendered, LEADER_POD).slice(1));
    if (typeof args === 'number' || args.webhook === undefined || args.eventGrid === undefined) throw new Error('kvsync controller rejected the chart args, or they lack the webhook or Event Grid');
    const keyFile = join(dir, 'eventgrid-key');
    await writeFile(keyFile, 'a-shared-key-of-32-characters-xx');
    const port = await freePort();
    const opts = controllerOptions(args, asSa, await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} }), pino({ level: process.env.KVSYNC_TEST_LOG ?? 'silent' }));
    controller = await startController({
      ...opts,
      retryPeriodMs: 500,
      healthAddr: '127.0.0.1:0',
      webhook: {
        ...args.webhook,
        addr: `127.0.0.1:${port}`,
        endpoint: { url: `https://127.0.0.1:${port}` },
        extraNamespaceRequirements: [confinement(appNs)],
        sidecarCommand: ['kvsync'],
      },
      eventGrid: { ...args.eventGrid, addr: '127.0.0.1:0', keyFile },
    });
  }, 900_000);

  afterAll(async () => {
    await controller?.stop();
    await world?.emu.stop();
    for (const obj of clusterScoped) await k8s.KubernetesObjectApi.makeApiClient(admin).delete(obj).catch(() => undefined);
    if (opNs) await deleteTestNamespace(admin, opNs);
    if (appNs) await deleteTestNamespace(admin, appNs);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('authenticates as the ServiceAccount, not as the admin', async () => {
    const review = await asSa.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${opNs}:${release}`);
  });

  it('leads, keeps its MAC key and webhook certificate in the release namespace, and updates the chart webhook configuration', async () => {
    const core = admin.makeApiClient(k8s.CoreV1Api);
    await pollUntil(() => Promise.resolve(controller?.isLeader() === true ? true : undefined), { timeoutMs: 60_000, intervalMs: 200, description: 'leadership' });
    const lease = await admin.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ namespace: opNs, name: 'kvsync-controller' });
    expect(lease.spec?.holderIdentity).toBe(controller?.identity);
    await core.readNamespacedSecret({ namespace: opNs, name: MAC_KEY_SECRET });
    await core.readNamespacedSecret({ namespace: opNs, name: 'kvsync-webhook-tls' });
    const mwc = await admin.makeApiClient(k8s.AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'kvsync-webhook' });
    for (const w of mwc.webhooks ?? []) {
      expect(w.clientConfig.url).toBe(controller?.webhook?.clientUrl);
      expect(w.clientConfig.caBundle ?? '').not.toBe('');
    }
  });

  it('syncs a KeyVaultSync into a kubernetes.io/tls and an Opaque Secret, Ready=True', async () => {
    if (world === undefined) throw new Error('no emulator');
    const syncs = syncApi(admin);
    await syncs.create(appNs, 'shop', syncSpec(world, {
      objects: [{ name: 'shop-tls', type: 'certificate' }, { name: 'db-password', type: 'secret', alias: 'password' }],
      secretObjects: [
        { secretName: 'shop-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] },
        { secretName: 'shop-db', type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] },
      ],
      restartTargets: [{ kind: 'Deployment', name: 'web' }],
    }));
    const synced = await pollUntil(
      async () => {
        const s = await syncs.get(appNs, 'shop');
        return conditionOf(s, 'Ready')?.status === 'True' ? s : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 300, description: 'KeyVaultSync Ready as the chart ServiceAccount' },
    );
    expect(conditionOf(synced, 'Synced')?.status).toBe('True');
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const tls = await core.readNamespacedSecret({ namespace: appNs, name: 'shop-tls' });
    expect(tls.type).toBe('kubernetes.io/tls');
    expect(Object.keys(tls.data ?? {}).sort()).toEqual(['tls.crt', 'tls.key']);
    expect(Buffer.from(tls.data?.['tls.crt'] ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
    const db = await core.readNamespacedSecret({ namespace: appNs, name: 'shop-db' });
    expect(Object.keys(db.data ?? {})).toEqual(['DB_PASSWORD']);
  }, 120_000);

  it('rolls its restart target when the data changes (apps patch), and labels its own pod for Event Grid (pods patch)', async () => {
    if (world === undefined) throw new Error('no emulator');
    await clientsFor(world.emu).secrets.setSecret('db-password', 'a-new-value-for-the-rollout');
    await syncApi(admin).patch(appNs, 'shop', { metadata: { annotations: { 'kvsync.dev/force-sync': 'rollout' } } });
    const apps = admin.makeApiClient(k8s.AppsV1Api);
    const rolled = await pollUntil(
      async () => {
        const d = await apps.readNamespacedDeployment({ namespace: appNs, name: 'web' });
        return d.spec?.template.metadata?.annotations?.['kvsync.dev/restarted-for'] !== undefined ? d : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 300, description: 'Deployment web rolled by the chart ServiceAccount' },
    );
    expect(rolled.metadata?.generation).toBe(2);
    const pod = await pollUntil(
      async () => {
        const p = await admin.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ namespace: opNs, name: LEADER_POD });
        return p.metadata?.labels?.['kvsync.dev/eventgrid-leader'] === 'true' ? p : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the leader pod labelled for Event Grid' },
    );
    expect(pod.metadata?.name).toBe(LEADER_POD);
  }, 120_000);

  it('admits a pod through the webhook it serves with only that RBAC', async () => {
    const pod: k8s.V1Pod = {
      metadata: { name: 'app', labels: { 'kvsync.dev/inject': 'enabled' } },
      spec: { containers: [{ name: 'app', image: 'registry.example/app:1', env: [{ name: 'DB_PASSWORD', value: 'kvsync:shop/password' }] }] },
    };
    const created = await pollUntil(
      async () => {
        try {
          return await admin.makeApiClient(k8s.CoreV1Api).createNamespacedPod({ namespace: appNs, body: pod, dryRun: 'All' });
        } catch (err) {
          if (statusOf(err) === 500) return undefined; // the webhook's configuration is still settling
          throw err;
        }
      },
      { timeoutMs: 30_000, intervalMs: 500, description: 'pod admitted through the webhook' },
    );
    const env = created.spec?.containers[0]?.env?.[0];
    expect(env?.value).toBeUndefined();
    expect(env?.valueFrom?.secretKeyRef).toEqual({ name: 'shop-db', key: 'DB_PASSWORD' });
  }, 60_000);

  it('fills the TLS Secret an annotated Ingress asks for, and says so on the Ingress', async () => {
    if (world === undefined) throw new Error('no emulator');
    await admin.makeApiClient(k8s.NetworkingV1Api).createNamespacedIngress({
      namespace: appNs,
      body: {
        metadata: {
          name: 'shop',
          annotations: { 'kvsync.dev/tls-certificate': 'https://devkv.vault.azure.net/certificates/shop-tls', 'kvsync.dev/tls-identity': 'servicePrincipal:kv-creds', 'kvsync.dev/tls-tenant-id': world.emu.endpoints.tenantID },
        },
        spec: { tls: [{ secretName: 'shop-ingress-tls' }], defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
      },
    });
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const tls = await pollUntil(() => core.readNamespacedSecret({ namespace: appNs, name: 'shop-ingress-tls' }).catch(() => undefined), { timeoutMs: 90_000, intervalMs: 300, description: 'the Ingress TLS Secret, as the chart ServiceAccount' });
    expect(tls.type).toBe('kubernetes.io/tls');
    await pollUntil(
      async () => ((await core.listNamespacedEvent({ namespace: appNs, fieldSelector: 'involvedObject.kind=Ingress,involvedObject.name=shop' })).items.some((e) => e.reason === 'TLSSecretCreated') ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 300, description: 'TLSSecretCreated on the Ingress' },
    );
  }, 120_000);

  it('is refused what the chart does not grant', async () => {
    const apps = asSa.makeApiClient(k8s.AppsV1Api);
    const core = asSa.makeApiClient(k8s.CoreV1Api);
    const rbac = asSa.makeApiClient(k8s.RbacAuthorizationV1Api);
    const denied = async (what: string, call: () => Promise<unknown>): Promise<void> => {
      const err = await call().then(() => undefined, (e: unknown) => e);
      expect(statusOf(err), `${what} should be forbidden`).toBe(403);
    };
    await denied('create a Deployment', () =>
      apps.createNamespacedDeployment({ namespace: appNs, body: { metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'x', image: 'x' }] } } } } }),
    );
    await denied('delete a ConfigMap', () => core.deleteNamespacedConfigMap({ namespace: appNs, name: 'kube-root-ca.crt' }));
    await denied('list Pods', () => core.listNamespacedPod({ namespace: 'kube-system' }));
    await denied('read a Lease in kube-system', () => asSa.makeApiClient(k8s.CoordinationV1Api).listNamespacedLease({ namespace: 'kube-system' }));
    await denied('patch a ClusterRole', () =>
      rbac.patchClusterRole({ name: `${release}-sync`, body: { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
    );
    await denied('bind itself to cluster-admin', () =>
      rbac.createClusterRoleBinding({ body: { metadata: { name: `${release}-escalate` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: release, namespace: opNs }] } }),
    );
    await denied('create another MutatingWebhookConfiguration', () =>
      asSa.makeApiClient(k8s.AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: { metadata: { name: `${release}-other` }, webhooks: [] } }),
    );
    await denied('update a Secret other than its own in the release namespace', () =>
      core.replaceNamespacedSecret({ namespace: appNs, name: 'kv-creds', body: { metadata: { name: 'kv-creds' }, stringData: { clientid: 'x' } } }),
    );
    await denied('list ServiceAccounts (it may only get one and request its token)', () => core.listNamespacedServiceAccount({ namespace: appNs }));
    await denied('read its own pod (it may only patch it)', () => core.readNamespacedPod({ namespace: opNs, name: LEADER_POD }));

  });
});

function confinement(namespace: string): k8s.V1LabelSelectorRequirement {
  return { key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespace] };
}

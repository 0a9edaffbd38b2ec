/**
 * The pod webhook against the real apiserver: the apiserver calls our HTTPS server on loopback with
 * the CA bundle the certificate manager published, and stores what we patched. Pods never run (no
 * kubelet); they are only stored.
 *
 * The MutatingWebhookConfiguration is confined to this file's namespaces (extra namespace selector),
 * so other test files' pods never reach it.
 */
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import { designExampleSpec, keyVaultSync } from '../../../src/api/testing/fixtures.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { SecretCertificateManager, splitCertificates } from '../../../src/webhook/certificates.ts';
import type { WebhookCertificates } from '../../../src/webhook/certificates.ts';
import { kubeClusterView } from '../../../src/webhook/kube-cluster-view.ts';
import { startWebhookServer } from '../../../src/webhook/server.ts';
import type { RunningWebhook } from '../../../src/webhook/server.ts';
import { webhookConfiguration } from '../../../src/webhook/webhook-configuration.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';

const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
const TENANT_ID = '00000000-0000-0000-0000-000000000000';

/** The serial of the certificate the server presents on a fresh connection. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false }, (res) => {
      resolve((res.socket as TLSSocket).getPeerCertificate().serialNumber);
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
}

function bodyText(err: unknown): string {
  return err instanceof k8s.ApiException ? String(err.body) : String(err);
}

describe('pod admission webhook on the real apiserver', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const configName = `kvsync-webhook-test-${Math.random().toString(36).slice(2, 8)}`;
  let namespace = '';
  let labelledNamespace = '';
  let operatorNamespace = '';
  let hook: RunningWebhook | undefined;
  let manager: SecretCertificateManager | undefined;
  let first: WebhookCertificates;

  function appPod(name: string, over: { labels?: Record<string, string>; annotations?: Record<string, string>; env?: k8s.V1EnvVar[] } = {}): k8s.V1Pod {
    return {
      metadata: { name, labels: over.labels ?? { 'kvsync.dev/inject': 'enabled' }, annotations: over.annotations ?? {} },
      spec: {
        serviceAccountName: 'app',
        securityContext: { runAsUser: 1000, fsGroup: 2000 },
        containers: [{ name: 'web', image: 'nginx', env: over.env ?? [{ name: 'DB_PASSWORD', value: 'kvsync:shop/password' }] }],
      },
    };
  }

  async function waitForDefaultServiceAccount(ns: string): Promise<void> {
    await pollUntil(() => core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }).then(() => true), { timeoutMs: 30_000, description: `ServiceAccount default in ${ns}` });
  }

  beforeAll(async () => {
    await installCrds(kc);
    namespace = await createTestNamespace(kc, 'wh');
    labelledNamespace = await createTestNamespace(kc, 'whns');
    operatorNamespace = await createTestNamespace(kc, 'whop');
    await core.patchNamespace({ name: labelledNamespace, body: [{ op: 'add', path: '/metadata/labels/kvsync.dev~1inject', value: 'enabled' }] }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    for (const ns of [namespace, labelledNamespace]) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app', annotations: { 'azure.workload.identity/client-id': CLIENT_ID } } } });
      const spec = { ...designExampleSpec(), identity: { workloadIdentity: { serviceAccountName: 'app' } } };
      await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'keyvaultsyncs', body: keyVaultSync(spec, 'shop', ns) });
      await waitForDefaultServiceAccount(ns);
    }

    manager = new SecretCertificateManager({
      kc,
      namespace: operatorNamespace,
      secretName: 'kvsync-webhook-tls',
      webhookConfigurationName: configName,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      onChange: (c) => hook?.setCertificate(c),
    });
    first = await manager.ensure();
    hook = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      certificate: first,
      view: kubeClusterView(kc),
      mutation: { operatorNamespace, sidecarImage: 'ghcr.io/kvsync/kvsync:test' },
    });
    const cfg = webhookConfiguration({
      name: configName,
      operatorNamespace,
      endpoint: { url: `https://127.0.0.1:${hook.port}` },
      caBundlePem: first.caBundlePem,
      extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespace, labelledNamespace] }],
    });
    await admission.createMutatingWebhookConfiguration({ body: cfg });
    // The apiserver picks the configuration up asynchronously: wait until a dry-run create is mutated.
    await pollUntil(
      async () => {
        const p = await core.createNamespacedPod({ namespace, body: appPod('probe'), dryRun: 'All' });
        return p.spec?.containers[0]?.env?.[0]?.valueFrom !== undefined ? true : undefined;
      },
      { timeoutMs: 30_000, description: 'the webhook to be called by the apiserver' },
    );
  });

  afterAll(async () => {
    manager?.stop();
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await hook?.close();
    for (const ns of [namespace, labelledNamespace, operatorNamespace]) if (ns !== '') await deleteTestNamespace(kc, ns);
  });

  it('stores a pod with env refs rewritten, envFrom, the sidecar, the volumes, mounts and the projected token', async () => {
    await core.createNamespacedPod({ namespace, body: appPod('both', { annotations: { 'kvsync.dev/env-from': 'shop', 'kvsync.dev/mount': 'shop' } }) });
    const pod = await core.readNamespacedPod({ namespace, name: 'both' });
    const spec = pod.spec;
    const web = spec?.containers[0];
    expect(web?.env).toEqual([{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'DB_PASSWORD' } } }]);
    expect(web?.envFrom).toEqual([{ secretRef: { name: 'shop-tls' } }, { secretRef: { name: 'shop-db' } }]);
    expect(web?.volumeMounts).toContainEqual({ name: 'kvsync-secrets-store', mountPath: '/mnt/secrets-store', readOnly: true });
    const sidecar = spec?.initContainers?.find((c) => c.name === 'kvsync-mount');
    expect(sidecar?.restartPolicy).toBe('Always');
    const args = sidecar?.args ?? [];
    expect(args.slice(0, 2)).toEqual(['mount', '--spec-json']);
    expect(JSON.parse(args[2] ?? '{}')).toMatchObject({ kind: 'KeyVaultSync', metadata: { name: 'shop', namespace } });
    expect(args.slice(3)).toEqual(['--dir', '/mnt/secrets-store', '--ready-port', '9808']);
    expect(sidecar?.startupProbe?.httpGet).toMatchObject({ path: '/readyz', port: 9808 });
    expect(sidecar?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(sidecar?.env?.find((e) => e.name === 'AZURE_CLIENT_ID')?.value).toBe(CLIENT_ID);
    expect(sidecar?.env?.find((e) => e.name === 'AZURE_TENANT_ID')?.value).toBe(TENANT_ID);
    expect(sidecar?.env?.find((e) => e.name === 'AZURE_FEDERATED_TOKEN_FILE')?.value).toBe('/var/run/secrets/azure/tokens/azure-identity-token');
    const volumes = spec?.volumes ?? [];
    expect(volumes.find((v) => v.name === 'kvsync-secrets-store')?.emptyDir?.medium).toBe('Memory');
    const token = volumes.find((v) => v.name === 'kvsync-azure-identity-token')?.projected?.sources?.[0]?.serviceAccountToken;
    expect(token).toMatchObject({ audience: 'api://AzureADTokenExchange', path: 'azure-identity-token' });
  });

  it('mutates a pod without its own label in a namespace that opted in', async () => {
    await core.createNamespacedPod({ namespace: labelledNamespace, body: appPod('nslabel', { labels: {} }) });
    const pod = await core.readNamespacedPod({ namespace: labelledNamespace, name: 'nslabel' });
    expect(pod.spec?.containers[0]?.env).toEqual([{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'DB_PASSWORD' } } }]);
  });

  it('leaves a pod that did not opt in unchanged', async () => {
    await core.createNamespacedPod({ namespace, body: appPod('plain', { labels: {}, annotations: { 'kvsync.dev/mount': 'shop' } }) });
    const pod = await core.readNamespacedPod({ namespace, name: 'plain' });
    expect(pod.spec?.containers[0]?.env).toEqual([{ name: 'DB_PASSWORD', value: 'kvsync:shop/password' }]);
    expect(pod.spec?.initContainers ?? []).toEqual([]);
  });

  it('denies a missing KeyVaultSync and a cross-namespace reference with a message saying which', async () => {
    const missing = await core.createNamespacedPod({ namespace, body: appPod('missing', { env: [{ name: 'X', value: 'kvsync:nope/password' }] }) }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(statusOf(missing)).toBe(403);
    expect(bodyText(missing)).toContain(`KeyVaultSync \\"nope\\", which does not exist in namespace \\"${namespace}\\"`);
    const cross = await core.createNamespacedPod({ namespace, body: appPod('cross', { env: [{ name: 'X', value: `kvsync:${labelledNamespace}/shop/password` }] }) }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(statusOf(cross)).toBe(403);
    expect(bodyText(cross)).toContain(`in namespace \\"${labelledNamespace}\\"`);
  });

  it('keeps admitting after a certificate rotation with a new CA', async () => {
    if (hook === undefined || manager === undefined) throw new Error('setup failed');
    const rotated = await manager.ensure('ca');
    expect(rotated.caCertPem).not.toBe(first.caCertPem);
    // The published bundle trusts both the new and the previous CA.
    const cfg = await admission.readMutatingWebhookConfiguration({ name: configName });
    const bundle = Buffer.from(cfg.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
    expect(splitCertificates(bundle)).toEqual([rotated.caCertPem, first.caCertPem]);
    expect(await servedSerial(hook.port, rotated.caBundlePem)).toBe(new X509Certificate(rotated.certPem).serialNumber);
    // The Secret holds the new pair, for the other replicas.
    const secret = await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-tls' });
    expect(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString('utf8')).toBe(rotated.certPem);

    // Retried: the apiserver applies the patched bundle from its watch, a moment after our write.
    await pollUntil(() => core.createNamespacedPod({ namespace, body: appPod('after-rotation') }).then(() => true), { timeoutMs: 20_000, description: 'a pod create after rotation' });
    const pod = await core.readNamespacedPod({ namespace, name: 'after-rotation' });
    expect(pod.spec?.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name).toBe('shop-db');

    // A second replica starting now adopts the stored pair instead of minting its own.
    const replica = new SecretCertificateManager({ kc, namespace: operatorNamespace, secretName: 'kvsync-webhook-tls', webhookConfigurationName: configName, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    expect((await replica.ensure()).certPem).toBe(rotated.certPem);
  });

  it('several replicas starting at once end up serving one certificate (create-or-read with optimistic concurrency)', async () => {
    const replicas = Array.from({ length: 3 }, () => new SecretCertificateManager({ kc, namespace: operatorNamespace, secretName: 'kvsync-webhook-race', webhookConfigurationName: undefined, dnsNames: ['localhost'] }));
    const got = await Promise.all(replicas.map((r) => r.ensure()));
    expect(new Set(got.map((c) => c.certPem)).size).toBe(1);
    // And when they all decide to renew at once, they still agree afterwards.
    const renewed = await Promise.all(replicas.map((r) => r.ensure('leaf')));
    const stored = await core.readNamespacedSecret({ namespace: operatorNamespace, name: 'kvsync-webhook-race' });
    const storedCert = Buffer.from(stored.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
    expect(storedCert).not.toBe(got[0]?.certPem);
    const after = await Promise.all(replicas.map((r) => r.ensure()));
    expect(after.map((c) => c.certPem)).toEqual([storedCert, storedCert, storedCert]);
    expect(renewed.some((c) => c.certPem === storedCert)).toBe(true);
  });
});

/**
 * kvsync as users run it: the chart installed on the node with helm as docs/chart.md says (only the
 * image, and the trust of the local Key Vault emulator's CA, set), two controller replicas in pods,
 * the webhook called by the apiserver through its Service, workloads in real pods. The emulator
 * listens on the node's address at port 443; cluster DNS points `<vault>.vault.azure.net` and
 * `login.microsoftonline.com` at it, so pods use the real Azure host names.
 *
 * The tests share one installation and run in order (the last one uninstalls it).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LEASE_NAME } from '../../src/controller/controller.ts';
import { KubeLeaseClient } from '../../src/controller/leader-election.ts';
import { runHelm, type HelmBinary } from '../../src/dev/helm.ts';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { makeTestCa, type TestCa } from '../integration/controller/support.ts';
import { clientsFor, type Clients } from '../integration/emulator/kv-support.ts';
import { deployIngressController, deployTlsIngress, fetchServedCertificate, removeIngressController, type IngressSetup, type ServedCertificate } from './ingress.ts';
import { deleteNamespace, imageRef, kubeConfig, RESTRICTED, runPodToCompletion } from './support.ts';

const CHART = fileURLToPath(new URL('../../charts/kvsync/', import.meta.url));
const RELEASE = 'kvsync';
const OPERATOR_NS = 'kvsync-system';
const APP_NS = 'e2e-shop';
const VAULT = 'e2ekv';
const TENANT = '6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b';
const APP_CLIENT_ID = '2b7e151c-28ae-4d2a-abf7-15880943c0f1';
const CA_CONFIGMAP = 'azure-ca';
const WEB_HOST = 'web.kvsync.test';
const INGRESS: IngressSetup = { namespace: 'e2e-ingress', watched: APP_NS, controllerImage: inject('ingressImage'), appImage: imageRef() };
const SHA = (s: string): string => createHash('sha256').update(s).digest('hex');

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const lease = new KubeLeaseClient(kc, OPERATOR_NS, LEASE_NAME);
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const helm: HelmBinary = { path: inject('nodeHelmBin'), version: '', built: false };
let emulator: RunningEmulator;
let vault: Clients;
/** The CA the emulator issues web-tls from: the test knows its root independently of what is served. */
let issuerCa: TestCa;
let work = '';
let password = `pw-${Math.random().toString(36).slice(2)}`;

/** Runs in app containers with the image's Node: proves what it sees by digests, never values. */
const REPORTER = `
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const sha = (s) => createHash('sha256').update(s).digest('hex');
const file = '/mnt/secrets-store/password';
const report = () => {
  const out = { env: sha(process.env.PGPASSWORD || ''), envFrom: sha(process.env.DB_PASSWORD || '') };
  try {
    const st = fs.statSync(file);
    out.file = sha(fs.readFileSync(file, 'utf8'));
    out.mode = (st.mode & 0o777).toString(8);
    out.uid = st.uid;
    out.gid = st.gid;
  } catch (err) { out.file = err.code; }
  console.log(JSON.stringify(out));
};
report();
setInterval(report, 1000);
`;

/** From a pod: GET the metrics Service until it answers (at most 60 s); prints the status and the number of kvsync series. */
const METRICS_PROBE = `
const deadline = Date.now() + 60000;
const attempt = () => fetch('http://kvsync-metrics.${OPERATOR_NS}.svc:8081/metrics').then(
  async (r) => console.log(r.status, (await r.text()).split('\\n').filter((l) => l.startsWith('kvsync_')).length),
  (err) => { if (Date.now() > deadline) throw err; setTimeout(attempt, 500); });
attempt();
`;

async function lastReport(name: string, container = 'app'): Promise<Record<string, string | number>> {
  const log = await core.readNamespacedPodLog({ name, namespace: APP_NS, container, tailLines: 1 });
  return JSON.parse(log.trim().split('\n').at(-1) ?? '{}') as Record<string, string | number>;
}

async function firstReport(name: string): Promise<Record<string, string | number>> {
  const log = await core.readNamespacedPodLog({ name, namespace: APP_NS, container: 'app' });
  return JSON.parse(log.trim().split('\n')[0] ?? '{}') as Record<string, string | number>;
}

async function keyVaultSync(): Promise<{ status?: { lastSyncTime?: string; conditions?: { type: string; status: string; reason?: string }[] } }> {
  return (await custom.getNamespacedCustomObject({ group: 'kvsync.dev', version: 'v1alpha1', namespace: APP_NS, plural: 'keyvaultsyncs', name: 'shop' })) as never;
}

async function secretData(name: string): Promise<Record<string, string>> {
  const s = await core.readNamespacedSecret({ name, namespace: APP_NS });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

async function runningPods(selector: string, namespace = APP_NS): Promise<k8s.V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: selector });
  return list.items.filter((p) => p.metadata?.deletionTimestamp === undefined && p.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.ready) === true);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kvsync-e2e-'));
  issuerCa = await makeTestCa();
  emulator = await startEmulator({
    host: inject('nodeAddress'),
    port: 443,
    entraHostNames: ['login.microsoftonline.com'],
    log: () => undefined,
    configDocument: {
      tenantId: TENANT,
      vaults: [{
        name: VAULT,
        secrets: [{ name: 'db-password', value: password, contentType: 'text/plain' }],
        certificates: [{ name: 'web-tls', issuer: 'E2ETestCA', subject: `CN=${WEB_HOST}`, dnsNames: [WEB_HOST], keyType: 'EC', contentType: 'application/x-pem-file', validityMonths: 12 }],
      }],
      servicePrincipals: [{ name: 'shop-app', clientId: APP_CLIENT_ID, federatedCredentials: [{ issuer: inject('nodeServiceAccountIssuer'), subject: `system:serviceaccount:${APP_NS}:app` }] }],
      roleAssignments: [
        { principal: 'shop-app', role: 'Key Vault Secrets User', vault: VAULT },
        { principal: 'shop-app', role: 'Key Vault Certificate User', vault: VAULT },
      ],
      issuers: [{ name: 'E2ETestCA', certFile: issuerCa.chainFile, keyFile: issuerCa.keyFile }],
      trustedIssuerCaFiles: [inject('nodeCaFile')],
    },
  });
  vault = clientsFor(emulator, undefined, VAULT);

  for (const ns of [OPERATOR_NS, APP_NS]) {
    await core.createNamespace({ body: { metadata: { name: ns, labels: ns === APP_NS ? { 'kvsync.dev/inject': 'enabled' } : {} } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: CA_CONFIGMAP }, data: { 'ca.crt': emulator.caPem } } });
  }
  // docs/chart.md's install, with the image built here and the emulator's CA trusted by the controller
  // and by the sidecars the webhook adds.
  const values = join(work, 'values.yaml');
  await writeFile(values, stringify({
    image: { repository: inject('imageRepository'), tag: inject('imageTag'), pullPolicy: 'Never' },
    extraEnv: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/kvsync/azure-ca/ca.crt' }],
    extraVolumes: [{ name: 'azure-ca', configMap: { name: CA_CONFIGMAP } }],
    extraVolumeMounts: [{ name: 'azure-ca', mountPath: '/etc/kvsync/azure-ca', readOnly: true }],
    webhook: { sidecarCAConfigMap: CA_CONFIGMAP },
  }));
  await runHelm(helm, ['install', RELEASE, CHART, '--namespace', OPERATOR_NS, '--create-namespace', '--values', values, '--kubeconfig', inject('nodeKubeconfig'), '--wait', '--timeout', '5m'], { timeoutMs: 360_000 });
}, 600_000);

afterAll(async () => {
  await removeIngressController(kc, INGRESS);
  await deleteNamespace(kc, APP_NS);
  await emulator?.stop();
});

describe('the chart on a real node', () => {
  it('runs two Ready controller replicas, one of them leading, serves metrics through its Service and registers the webhook', async () => {
    const pods = await pollUntil(async () => {
      const ready = await runningPods('app.kubernetes.io/name=kvsync', OPERATOR_NS);
      return ready.length === 2 ? ready : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000, description: 'two Ready controller pods' });
    expect(pods.every((p) => p.spec?.containers[0]?.image === imageRef())).toBe(true);
    const holder = await pollUntil(async () => (await lease.get())?.holderIdentity || undefined, { timeoutMs: 60_000, intervalMs: 1000, description: 'a leader' });
    // The holder identity is `<pod name>_<random>`.
    expect(pods.some((p) => holder.startsWith(`${p.metadata?.name ?? '?'}_`))).toBe(true);
    // Metrics through the metrics Service, from a pod (cluster DNS, kube-proxy).
    const metrics = await runPodToCompletion(kc, OPERATOR_NS, {
      metadata: { name: 'metrics-probe' },
      spec: {
        containers: [{
          name: 'probe', image: imageRef(), imagePullPolicy: 'Never', securityContext: RESTRICTED,
          // kube-proxy programs a new Service's endpoints shortly after the pods turn Ready: retry for up to 60 s.
          command: ['/nodejs/bin/node', '-e', METRICS_PROBE],
        }],
      },
    });
    const [status, series] = metrics.trim().split(' ').map(Number);
    expect(status).toBe(200);
    expect(series).toBeGreaterThan(0);
    const hook = await admission.readMutatingWebhookConfiguration({ name: 'kvsync-webhook' });
    expect(hook.webhooks?.[0]?.clientConfig.service?.namespace).toBe(OPERATOR_NS);
    expect(hook.webhooks?.[0]?.clientConfig.caBundle).toBeTruthy();
  });

  it('syncs a TLS and an Opaque Secret with workload identity', async () => {
    await core.createNamespacedServiceAccount({ namespace: APP_NS, body: { metadata: { name: 'app', annotations: { 'azure.workload.identity/client-id': APP_CLIENT_ID } } } });
    await custom.createNamespacedCustomObject({
      group: 'kvsync.dev', version: 'v1alpha1', namespace: APP_NS, plural: 'keyvaultsyncs',
      body: {
        apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'shop' },
        spec: {
          vault: { name: VAULT, tenantID: TENANT },
          identity: { workloadIdentity: { serviceAccountName: 'app' } },
          objects: [{ name: 'web-tls', type: 'certificate' }, { name: 'db-password', type: 'secret', alias: 'password', filePermission: '0440' }],
          secretObjects: [
            { secretName: 'web-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'web-tls' }] },
            { secretName: 'shop-db', type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] },
          ],
          refreshInterval: '10s',
          restartTargets: [{ kind: 'Deployment', name: 'envapp' }],
        },
      },
    });
    await pollUntil(async () => {
      const s = await keyVaultSync();
      return s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000, description: 'KeyVaultSync shop Ready' });
    expect((await secretData('shop-db')).DB_PASSWORD === password).toBe(true);
    const tls = await core.readNamespacedSecret({ name: 'web-tls', namespace: APP_NS });
    expect(tls.type).toBe('kubernetes.io/tls');
    const chain = Buffer.from(tls.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
    const leaf = new X509Certificate(chain);
    expect(leaf.subject).toBe('CN=web.kvsync.test');
    expect(chain.match(/BEGIN CERTIFICATE/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('injects env into a Deployment whose container sees the value', async () => {
    await apps.createNamespacedDeployment({
      namespace: APP_NS,
      body: {
        metadata: { name: 'envapp' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'envapp' } },
          template: {
            metadata: { labels: { app: 'envapp' }, annotations: { 'kvsync.dev/env-from': 'shop' } },
            spec: {
              securityContext: { runAsUser: 1000, runAsGroup: 1000 },
              containers: [{ name: 'app', image: imageRef(), imagePullPolicy: 'Never', command: ['/nodejs/bin/node', '-e', REPORTER], env: [{ name: 'PGPASSWORD', value: 'kvsync:shop/password' }] }],
            },
          },
        },
      },
    });
    const pod = await pollUntil(async () => (await runningPods('app=envapp'))[0], { timeoutMs: 120_000, intervalMs: 1000, description: 'envapp running' });
    const env = pod.spec?.containers[0]?.env?.find((e) => e.name === 'PGPASSWORD');
    expect(env?.valueFrom?.secretKeyRef).toEqual({ name: 'shop-db', key: 'DB_PASSWORD' });
    const report = await pollUntil(async () => lastReport(pod.metadata?.name ?? '').catch(() => undefined), { timeoutMs: 30_000, description: 'envapp log' });
    expect(report.env).toBe(SHA(password));
    expect(report.envFrom).toBe(SHA(password));
  });

  it('starts a mount pod\'s app only after its files exist, with the documented owner, group and mode', async () => {
    // Until kube-proxy routes the webhook's Service, the apiserver cannot call it and refuses the pod.
    await pollUntil(async () => core.createNamespacedPod({
      namespace: APP_NS,
      body: {
        metadata: { name: 'mountapp', annotations: { 'kvsync.dev/mount': 'shop' } },
        spec: {
          serviceAccountName: 'app',
          securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
          containers: [{ name: 'app', image: imageRef(), imagePullPolicy: 'Never', command: ['/nodejs/bin/node', '-e', REPORTER] }],
        },
      },
    }), { timeoutMs: 60_000, intervalMs: 1000, description: 'the webhook to admit mountapp', isFatal: (err) => !(err instanceof k8s.ApiException && err.code === 500) });
    const pod = await pollUntil(async () => (await runningPods('', APP_NS)).find((p) => p.metadata?.name === 'mountapp'), { timeoutMs: 120_000, intervalMs: 1000, description: 'mountapp running' });
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'kvsync-mount');
    expect(sidecar?.restartPolicy).toBe('Always');
    // The sidecar's only Azure credential is the pod's projected ServiceAccount token.
    expect(sidecar?.env?.find((e) => e.name === 'AZURE_FEDERATED_TOKEN_FILE')).toBeDefined();
    expect(pod.spec?.volumes?.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken?.audience === 'api://AzureADTokenExchange'))).toBe(true);
    const first = await pollUntil(async () => firstReport('mountapp').catch(() => undefined), { timeoutMs: 30_000, description: 'mountapp log' });
    // The app's very first look already found the file: it started after the sidecar's first write.
    expect(first.file).toBe(SHA(password));
    expect(first.mode).toBe('440');
    expect(first.uid).toBe(1000);
    expect(first.gid).toBe(2000);
  });

  it('follows a new version in Key Vault: the mounted file changes in the running pod, and the env Deployment rolls exactly once', async () => {
    const before = await apps.readNamespacedDeployment({ name: 'envapp', namespace: APP_NS });
    const revisionBefore = Number(before.metadata?.annotations?.['deployment.kubernetes.io/revision']);
    password = `pw-${Math.random().toString(36).slice(2)}`;
    await vault.secrets.setSecret('db-password', password);
    await pollUntil(async () => ((await lastReport('mountapp').catch(() => undefined))?.file === SHA(password) ? true : undefined), { timeoutMs: 90_000, intervalMs: 1000, description: 'the new version in the mounted file' });
    const pod = await pollUntil(async () => {
      const pods = await runningPods('app=envapp');
      const fresh = pods.find((p) => p.metadata?.creationTimestamp !== undefined && p.metadata.creationTimestamp > (before.metadata?.creationTimestamp ?? new Date(0)));
      const report = fresh === undefined ? undefined : await lastReport(fresh.metadata?.name ?? '').catch(() => undefined);
      return report?.env === SHA(password) ? fresh : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000, description: 'a rolled envapp pod with the new value' });
    expect(pod).toBeDefined();
    // Two more syncs of the KeyVaultSync later (force-syncs: a refresh that changes nothing writes no
    // status, a force-sync does), the Deployment has rolled once, not again.
    for (const n of [1, 2]) {
      const t = (await keyVaultSync()).status?.lastSyncTime;
      await custom.patchNamespacedCustomObject(
        { group: 'kvsync.dev', version: 'v1alpha1', namespace: APP_NS, plural: 'keyvaultsyncs', name: 'shop', body: { metadata: { annotations: { 'kvsync.dev/force-sync': `after-rotation-${n}` } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await pollUntil(async () => ((await keyVaultSync()).status?.lastSyncTime !== t ? true : undefined), { timeoutMs: 90_000, intervalMs: 1000, description: `force-sync ${n} of KeyVaultSync shop` });
    }
    const after = await apps.readNamespacedDeployment({ name: 'envapp', namespace: APP_NS });
    expect(Number(after.metadata?.annotations?.['deployment.kubernetes.io/revision'])).toBe(revisionBefore + 1);
  });

  it('serves the synced certificate through an ingress controller, and its next version after a rotation in Key Vault', async () => {
    const nodePort = await deployIngressController(kc, INGRESS);
    await deployTlsIngress(kc, INGRESS, WEB_HOST, 'web-tls');
    const serialOf = (cer: Uint8Array | undefined): string => new X509Certificate(Buffer.from(cer ?? [])).serialNumber.toUpperCase();
    // A probe that sees something else throws what it saw: the poll's timeout reports the last one.
    const served = (serial: string): Promise<ServedCertificate> => pollUntil(async () => {
      const s = await fetchServedCertificate(inject('nodeAddress'), nodePort, WEB_HOST, issuerCa.rootPem);
      if (s.chain[0]?.serialNumber === serial && s.response.startsWith('HTTP/1.1 200')) return s;
      throw new Error(`served ${s.chain[0]?.subject ?? 'no certificate'} with serial ${s.chain[0]?.serialNumber ?? '-'}, answered ${s.response.split('\r\n')[0] ?? ''}`);
    }, { timeoutMs: 120_000, intervalMs: 1000, description: `the ingress to serve the certificate with serial ${serial}` });

    // A client that trusts only the issuer's root verifies the chain for the host: the ingress sends
    // the Key Vault leaf and its intermediate, and routes to the backend.
    const v1 = await served(serialOf((await vault.certificates.getCertificate('web-tls')).cer));
    expect(v1.authorized).toBe(true);
    expect(v1.chain[0]?.subject).toBe(`CN=${WEB_HOST}`);
    expect(v1.chain[1]?.subject).toBe('CN=kvsync controller test intermediate');
    expect(v1.chain[0]?.issuer).toBe(v1.chain[1]?.subject);
    expect(v1.response).toMatch(/\r\n\r\nhello$/);

    // A new version in Key Vault: kvsync updates the Secret, the ingress controller serves it.
    const policy = await vault.certificates.getCertificatePolicy('web-tls');
    const v2Serial = serialOf((await (await vault.certificates.beginCreateCertificate('web-tls', policy, { intervalInMs: 200 })).pollUntilDone()).cer);
    expect(v2Serial).not.toBe(v1.chain[0]?.serialNumber);
    const v2 = await served(v2Serial);
    expect(v2.authorized).toBe(true);
    expect(v2.chain[1]?.subject).toBe('CN=kvsync controller test intermediate');
  });

  it('hands leadership to the other replica when the leader pod is deleted, and loses or rewrites no Secret', async () => {
    const before = await lease.get();
    const duration = before?.leaseDurationSeconds ?? 15;
    const pods = await runningPods('app.kubernetes.io/name=kvsync', OPERATOR_NS);
    const leader = pods.map((p) => p.metadata?.name ?? '').find((n) => before?.holderIdentity?.startsWith(`${n}_`)) ?? '';
    const other = pods.map((p) => p.metadata?.name).find((n) => n !== leader);
    expect(other).toBeDefined();
    const secretsBefore = await core.listNamespacedSecret({ namespace: APP_NS, labelSelector: 'app.kubernetes.io/managed-by=kvsync' });
    const dataBefore = Object.fromEntries(secretsBefore.items.map((s) => [s.metadata?.name ?? '', JSON.stringify(s.data)]));
    await core.deleteNamespacedPod({ name: leader, namespace: OPERATOR_NS });
    // Either the surviving replica or the Deployment's replacement pod may win the released Lease: both
    // are kvsync replicas, so the property is that a live replica other than the deleted one leads.
    await pollUntil(async () => {
      const holder = (await lease.get())?.holderIdentity ?? '';
      if (holder === '' || holder.startsWith(`${leader}_`)) return undefined;
      const pods = await core.listNamespacedPod({ namespace: OPERATOR_NS, labelSelector: 'app.kubernetes.io/name=kvsync' });
      const live = pods.items.filter((p) => p.metadata?.deletionTimestamp === undefined);
      return live.some((p) => p.metadata?.name !== leader && holder.startsWith(`${p.metadata?.name ?? '?'}_`)) ? true : undefined;
    }, { timeoutMs: (duration + 10) * 1000, intervalMs: 500, description: `leadership to a replica other than ${leader}` });
    const secretsAfter = await core.listNamespacedSecret({ namespace: APP_NS, labelSelector: 'app.kubernetes.io/managed-by=kvsync' });
    const dataAfter = Object.fromEntries(secretsAfter.items.map((s) => [s.metadata?.name ?? '', JSON.stringify(s.data)]));
    expect(Object.keys(dataAfter).sort()).toEqual(Object.keys(dataBefore).sort());
    expect(dataAfter).toEqual(dataBefore);
    expect((await secretData('shop-db')).DB_PASSWORD === password).toBe(true);
  });

  it('helm uninstall leaves the cluster usable: pods are admitted without the webhook, and the synced Secrets stay', async () => {
    await runHelm(helm, ['uninstall', RELEASE, '--namespace', OPERATOR_NS, '--kubeconfig', inject('nodeKubeconfig'), '--wait', '--timeout', '2m'], { timeoutMs: 180_000 });
    await expect(admission.readMutatingWebhookConfiguration({ name: 'kvsync-webhook' })).rejects.toMatchObject({ code: 404 });
    // A pod in the opted-in namespace is admitted and runs unchanged.
    await core.createNamespacedPod({
      namespace: APP_NS,
      body: { metadata: { name: 'after-uninstall', annotations: { 'kvsync.dev/env-from': 'shop' } }, spec: { containers: [{ name: 'app', image: imageRef(), imagePullPolicy: 'Never', args: ['--help'] }], restartPolicy: 'Never' } },
    });
    const pod = await pollUntil(async () => {
      const p = await core.readNamespacedPod({ name: 'after-uninstall', namespace: APP_NS });
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000, description: 'a pod after uninstall' });
    expect(pod.spec?.containers[0]?.envFrom).toBeUndefined();
    // docs/chart.md: the CRDs stay, and with them the KeyVaultSyncs and the Secrets they own.
    expect((await secretData('shop-db')).DB_PASSWORD === password).toBe(true);
    expect((await core.readNamespacedSecret({ name: 'web-tls', namespace: APP_NS })).type).toBe('kubernetes.io/tls');
  });
});

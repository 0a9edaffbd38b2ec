import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../api/index.ts';
import { designExampleSpec, keyVaultSync } from '../api/testing/fixtures.ts';
import { renewCertificates } from './certificates.ts';
import type { WebhookCertificates } from './certificates.ts';
import type { AdmissionClusterView } from './kube-cluster-view.ts';
import { startWebhookServer } from './server.ts';
import type { RunningWebhook } from './server.ts';

interface Reply {
  status: number;
  body: string;
  serial: string;
}

function post(hook: RunningWebhook, ca: string, path: string, body: string | Buffer, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: hook.port, path, method, ca, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), serial }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function review(object: unknown, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object, ...over },
  });
}

interface ReviewOut {
  response: { uid: string; allowed: boolean; patch?: string; patchType?: string; status?: { code: number; message: string } };
}

describe('webhook server', () => {
  let certs: WebhookCertificates;
  let hook: RunningWebhook;
  const labelsRead: string[] = [];
  const view: AdmissionClusterView = {
    getKeyVaultSync(_namespace: string, name: string) {
      if (name === 'boom') return Promise.reject(new Error('apiserver unreachable'));
      const parsed = parseKeyVaultSync(keyVaultSync(designExampleSpec(), 'shop', 'shop'));
      return Promise.resolve(name === 'shop' && parsed.ok ? { kind: 'found' as const, sync: parsed.value, object: {} } : { kind: 'missing' as const });
    },
    getServiceAccountAnnotations: () => Promise.resolve({}),
    getKeyVaultIdentity: () => Promise.resolve({ kind: 'missing' }),
    getNamespaceLabels(namespace: string) {
      labelsRead.push(namespace);
      return Promise.resolve({});
    },
  };

  beforeAll(async () => {
    certs = await renewCertificates(undefined, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    hook = await startWebhookServer({ host: '127.0.0.1', port: 0, certificate: certs, view, mutation: { operatorNamespace: 'kvsync-system', sidecarImage: 'img' }, maxBodyBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await hook.close();
  });

  it('answers /healthz and 404/405 for other paths and methods', async () => {
    expect((await post(hook, certs.caBundlePem, '/healthz', '', 'GET')).status).toBe(200);
    expect((await post(hook, certs.caBundlePem, '/other', '')).status).toBe(404);
    expect((await post(hook, certs.caBundlePem, '/mutate-pods', '', 'GET')).status).toBe(405);
  });

  it('rejects malformed bodies with 400 and oversized ones with 413, and keeps serving', async () => {
    expect((await post(hook, certs.caBundlePem, '/mutate-pods', '{not json')).status).toBe(400);
    expect((await post(hook, certs.caBundlePem, '/mutate-pods', JSON.stringify({ kind: 'AdmissionReview' }))).status).toBe(400);
    expect((await post(hook, certs.caBundlePem, '/mutate-pods', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }))).status).toBe(400);
    expect((await post(hook, certs.caBundlePem, '/mutate-pods', Buffer.alloc(128 * 1024, 0x20))).status).toBe(413);
    expect((await post(hook, certs.caBundlePem, '/healthz', '', 'GET')).status).toBe(200);
  });

  it('returns a base64 JSON Patch for an opted-in pod', async () => {
    const pod = { metadata: { labels: { 'kvsync.dev/inject': 'enabled' } }, spec: { containers: [{ name: 'a', env: [{ name: 'P', value: 'kvsync:shop/password' }] }] } };
    const r = await post(hook, certs.caBundlePem, '/mutate-pods', review(pod));
    const out = JSON.parse(r.body) as ReviewOut;
    expect(out.response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(out.response.patch ?? '', 'base64').toString('utf8')) as unknown;
    expect(patch).toEqual([{ op: 'add', path: '/spec/containers', value: [{ name: 'a', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'DB_PASSWORD' } } }] }] }]);
  });

  it('allows other kinds and operations unchanged, and a pod that did not opt in without a patch', async () => {
    const pod = { metadata: {}, spec: { containers: [{ name: 'a' }] } };
    for (const over of [{ operation: 'UPDATE' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, {}]) {
      const out = JSON.parse((await post(hook, certs.caBundlePem, '/mutate-pods', review(pod, over))).body) as ReviewOut;
      expect(out.response).toEqual({ uid: 'u-1', allowed: true });
    }
    expect(labelsRead).toContain('shop');
  });

  it('denies with the message, and answers a cluster read failure with allowed:false code 500', async () => {
    const denied = { metadata: { labels: { 'kvsync.dev/inject': 'enabled' } }, spec: { containers: [{ name: 'a', env: [{ name: 'P', value: 'kvsync:gone/x' }] }] } };
    const d = JSON.parse((await post(hook, certs.caBundlePem, '/mutate-pods', review(denied))).body) as ReviewOut;
    expect(d.response.allowed).toBe(false);
    expect(d.response.status?.code).toBe(403);
    expect(d.response.status?.message).toContain('KeyVaultSync "gone"');
    const failing = { metadata: { labels: { 'kvsync.dev/inject': 'enabled' } }, spec: { containers: [{ name: 'a', env: [{ name: 'P', value: 'kvsync:boom/x' }] }] } };
    const f = JSON.parse((await post(hook, certs.caBundlePem, '/mutate-pods', review(failing))).body) as ReviewOut;
    expect(f.response).toMatchObject({ allowed: false, status: { code: 500 } });
    expect(f.response.status?.message).toContain('apiserver unreachable');
  });

  it('serves a new certificate after setCertificate', async () => {
    const before = await post(hook, certs.caBundlePem, '/healthz', '', 'GET');
    expect(before.serial).toBe(new X509Certificate(certs.certPem).serialNumber);
    const next = await renewCertificates(certs, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    hook.setCertificate(next);
    const after = await post(hook, next.caBundlePem, '/healthz', '', 'GET');
    expect(after.serial).toBe(new X509Certificate(next.certPem).serialNumber);
    expect(after.serial).not.toBe(before.serial);
  });
});

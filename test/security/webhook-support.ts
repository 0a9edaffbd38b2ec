/**
 * The admission webhook as the security tests drive it: the real HTTPS server on loopback, a cluster
 * view that records every lookup (which namespace the webhook looked into), and a client that POSTs
 * AdmissionReviews the way the apiserver, or a forger inside the cluster, would.
 */
import { request } from 'node:https';
import { renewCertificates } from '../../src/webhook/certificates.ts';
import type { AdmissionClusterView } from '../../src/webhook/kube-cluster-view.ts';
import type { MutationOptions } from '../../src/webhook/mutate-pod.ts';
import { startWebhookServer, type RunningWebhook } from '../../src/webhook/server.ts';

export interface Lookup {
  what: 'KeyVaultSync' | 'ServiceAccount' | 'KeyVaultIdentity' | 'Namespace';
  /** Namespace looked into ('' for cluster-scoped objects). */
  namespace: string;
  name: string;
}

/** Wraps a view so that every lookup is recorded in `lookups`. */
export function recordingView(inner: AdmissionClusterView, lookups: Lookup[]): AdmissionClusterView {
  return {
    getKeyVaultSync: (namespace, name) => {
      lookups.push({ what: 'KeyVaultSync', namespace, name });
      return inner.getKeyVaultSync(namespace, name);
    },
    getServiceAccountAnnotations: (namespace, name) => {
      lookups.push({ what: 'ServiceAccount', namespace, name });
      return inner.getServiceAccountAnnotations(namespace, name);
    },
    getKeyVaultIdentity: (name) => {
      lookups.push({ what: 'KeyVaultIdentity', namespace: '', name });
      return inner.getKeyVaultIdentity(name);
    },
    getNamespaceLabels: (namespace) => {
      lookups.push({ what: 'Namespace', namespace, name: namespace });
      return inner.getNamespaceLabels(namespace);
    },
  };
}

export interface AdmissionAnswer {
  uid: string;
  allowed: boolean;
  patch?: string;
  status?: { code: number; message: string; reason?: string };
}

export interface TestWebhook {
  hook: RunningWebhook;
  /** POSTs an AdmissionReview for a Pod CREATE; `request` fields override the defaults. */
  admit(namespace: string, pod: unknown, request?: Record<string, unknown>): Promise<AdmissionAnswer>;
  /** POSTs any body; the HTTP status and the raw answer. */
  admitRaw(body: string): Promise<{ status: number; body: string }>;
  /** The JSON Patch of an allowed answer (empty when none). */
  patchOf(answer: AdmissionAnswer): { op: string; path: string; value?: unknown }[];
  close(): Promise<void>;
}

export async function startTestWebhook(view: AdmissionClusterView, mutation: MutationOptions): Promise<TestWebhook> {
  const certs = await renewCertificates(undefined, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const hook = await startWebhookServer({ host: '127.0.0.1', port: 0, certificate: certs, view, mutation });
  const post = (body: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: hook.port, path: '/mutate-pods', method: 'POST', ca: certs.caBundlePem, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  let n = 0;
  return {
    hook,
    async admit(namespace, pod, over = {}) {
      const uid = `sec-${++n}`;
      const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace, object: pod, ...over } };
      const res = await post(JSON.stringify(review));
      if (res.status !== 200) throw new Error(`webhook answered HTTP ${res.status}: ${res.body}`);
      return (JSON.parse(res.body) as { response: AdmissionAnswer }).response;
    },
    admitRaw: post,
    patchOf(answer) {
      return answer.patch === undefined ? [] : (JSON.parse(Buffer.from(answer.patch, 'base64').toString('utf8')) as { op: string; path: string; value?: unknown }[]);
    },
    close: () => hook.close(),
  };
}

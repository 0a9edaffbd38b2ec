/**
 * Hostile AdmissionReviews: input is the request body (a string is sent as it is, anything else as JSON).
 * The runner's webhook knows one KeyVaultSync, `shop`, in namespace `shop`.
 */
import type { CorpusCase } from './types.ts';

const review = (request: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', ...request } });
const pod = (namespace: string | undefined, annotations: Record<string, string>, env: { name: string; value: string }[] = []): Record<string, unknown> => ({
  metadata: { name: 'p', ...(namespace === undefined ? {} : { namespace }), labels: { 'kvsync.dev/inject': 'enabled' }, annotations },
  spec: { serviceAccountName: 'app', containers: [{ name: 'c', image: 'busybox', env }] },
});

export const cases: CorpusCase[] = [
  { name: 'not JSON', kind: 'admission-review', input: '{"apiVersion": "admission.k8s.io/v1", "kind": ', reason: 'HTTP 400' },
  { name: 'an AdmissionReview without a request', kind: 'admission-review', input: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, reason: 'HTTP 400' },
  { name: 'deeply nested JSON', kind: 'admission-review', input: `${'['.repeat(50_000)}${']'.repeat(50_000)}`, reason: 'HTTP 400' },
  { name: 'a Pod that names another namespace than the request', kind: 'admission-review', input: review({ namespace: 'attacker', object: pod('shop', { 'kvsync.dev/mount': 'shop' }) }), reason: 'Denied', detail: 'but the admission request is for namespace "attacker"' },
  { name: 'env reference into another namespace', kind: 'admission-review', input: review({ namespace: 'attacker', object: pod('attacker', {}, [{ name: 'X', value: 'kvsync:shop/shop/db' }]) }), reason: 'Denied', detail: 'may only use KeyVaultSyncs of its own namespace' },
  { name: 'mount annotation into another namespace', kind: 'admission-review', input: review({ namespace: 'attacker', object: pod(undefined, { 'kvsync.dev/mount': 'shop/shop' }) }), reason: 'Denied', detail: 'may only use KeyVaultSyncs of its own namespace' },
  { name: 'mount path traversal', kind: 'admission-review', input: review({ namespace: 'shop', object: pod('shop', { 'kvsync.dev/mount': 'shop', 'kvsync.dev/mount-path': '/var/../etc' }) }), reason: 'Denied', detail: 'must be an absolute path without ".."' },
  { name: 'a Pod whose spec is a string', kind: 'admission-review', input: review({ namespace: 'shop', object: { metadata: { labels: { 'kvsync.dev/inject': 'enabled' } }, spec: 'boom' } }), reason: 'Allowed' },
  { name: 'a malformed kvsync: reference', kind: 'admission-review', input: review({ namespace: 'shop', object: pod('shop', {}, [{ name: 'X', value: 'kvsync:../../etc' }]) }), reason: 'Denied', detail: 'is not a kvsync reference' },
];

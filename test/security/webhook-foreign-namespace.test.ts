/**
 * Threat: any client inside the cluster can POST an AdmissionReview to the webhook. One whose Pod names
 * another namespace than the request would make the webhook answer about, or on behalf of, that other
 * namespace. Defence: the webhook uses the AdmissionRequest's namespace only, refuses a review whose
 * Pod names another one before any lookup, and refuses references into other namespaces
 * (`CrossNamespaceReference`). The view on the real apiserver records every namespace it looks into.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import { defaultAzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { kubeClusterView } from '../../src/webhook/kube-cluster-view.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';
import { keyVaultSyncObject } from './support.ts';
import { recordingView, startTestWebhook, type Lookup, type TestWebhook } from './webhook-support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const TENANT = '00000000-0000-0000-0000-000000000000';
const lookups: Lookup[] = [];
let victim = '';
let attacker = '';
let webhook: TestWebhook;

function pod(namespace: string | undefined, annotations: Record<string, string>, env: { name: string; value: string }[] = []): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'probe', ...(namespace === undefined ? {} : { namespace }), labels: { 'kvsync.dev/inject': 'enabled' }, annotations },
    spec: { serviceAccountName: 'app', containers: [{ name: 'app', image: 'busybox', env }] },
  };
}

beforeAll(async () => {
  await installCrds(kc);
  victim = await createTestNamespace(kc, 'sec-fns-victim');
  attacker = await createTestNamespace(kc, 'sec-fns-attacker');
  for (const ns of [victim, attacker]) {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app', annotations: { 'azure.workload.identity/client-id': '11111111-2222-3333-4444-555555555555' } } } });
  }
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: victim,
    plural: 'keyvaultsyncs',
    body: keyVaultSyncObject(victim, 'payroll', {
      vault: { name: 'payrollkv', tenantID: TENANT },
      identity: { workloadIdentity: { serviceAccountName: 'app' } },
      objects: [{ name: 'salary' }],
      secretObjects: [{ secretName: 'payroll-db', data: [{ objectName: 'salary', key: 'SALARY' }] }],
    }),
  });
  webhook = await startTestWebhook(recordingView(kubeClusterView(kc, defaultAzureEnvironment()), lookups), { operatorNamespace: 'kvsync-system', sidecarImage: 'kvsync:test' });
});

afterAll(async () => {
  await webhook?.close();
  for (const ns of [victim, attacker]) if (ns !== '') await deleteTestNamespace(kc, ns);
});

describe('the webhook answers nothing about another namespace', () => {
  it('control: a review from the namespace itself is mutated (the KeyVaultSync is found there)', async () => {
    lookups.length = 0;
    const answer = await webhook.admit(victim, pod(victim, { 'kvsync.dev/mount': 'payroll' }));
    expect(answer.allowed).toBe(true);
    expect(webhook.patchOf(answer).length).toBeGreaterThan(0);
    expect(lookups.some((l) => l.what === 'KeyVaultSync' && l.namespace === victim)).toBe(true);
  });

  it("refuses a review whose Pod names another namespace than the request's, before any lookup", async () => {
    lookups.length = 0;
    const answer = await webhook.admit(attacker, pod(victim, { 'kvsync.dev/mount': 'payroll', 'kvsync.dev/env-from': 'payroll' }));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toContain('but the admission request is for namespace');
    expect(answer.patch).toBeUndefined();
    expect(lookups).toEqual([]);
  });

  it('refuses references into another namespace without looking there', async () => {
    lookups.length = 0;
    const byEnv = await webhook.admit(attacker, pod(attacker, {}, [{ name: 'SALARY', value: `kvsync:${victim}/payroll/salary` }]));
    expect(byEnv.allowed).toBe(false);
    expect(byEnv.status?.message).toContain('a pod may only use KeyVaultSyncs of its own namespace');
    const byAnnotation = await webhook.admit(attacker, pod(undefined, { 'kvsync.dev/mount': `${victim}/payroll` }));
    expect(byAnnotation.allowed).toBe(false);
    expect(byAnnotation.status?.message).toContain('a pod may only use KeyVaultSyncs of its own namespace');
    expect(lookups.filter((l) => l.namespace === victim)).toEqual([]);
  });
});

/**
 * The local cluster has a real node: kubelet registered it Ready, the scheduler places pods on it,
 * containerd runs them on the CNI bridge, kube-proxy routes Services, and cluster DNS answers the
 * cluster's names and the emulator's Azure names — and nothing else.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createNamespace, deleteNamespace, imageRef, kubeConfig, RESTRICTED, runPodToCompletion } from './support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let namespace = '';

beforeAll(async () => {
  namespace = await createNamespace(kc, 'node');
});
afterAll(async () => {
  await deleteNamespace(kc, namespace);
});

// Runs in the pod with the image's Node: resolves names through cluster DNS and calls the API through
// the `kubernetes` Service with the pod's own ServiceAccount token.
const PROBE = `
const dns = require('node:dns').promises;
const https = require('node:https');
const fs = require('node:fs');
const sa = '/var/run/secrets/kubernetes.io/serviceaccount/';
(async () => {
  const out = {};
  out.kubernetes = (await dns.lookup('kubernetes.default.svc.cluster.local')).address;
  out.vault = (await dns.lookup('devkv.vault.azure.net')).address;
  out.authority = (await dns.lookup('login.microsoftonline.com')).address;
  out.elsewhere = await dns.lookup('example.com').then(() => 'resolved', (e) => e.code);
  out.version = await new Promise((resolve, reject) => {
    https.get({ host: 'kubernetes.default.svc', path: '/version', ca: fs.readFileSync(sa + 'ca.crt'),
      headers: { authorization: 'Bearer ' + fs.readFileSync(sa + 'token', 'utf8') } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode + ' ' + JSON.parse(body).gitVersion));
    }).on('error', reject);
  });
  console.log(JSON.stringify(out));
})().catch((err) => { console.error(String(err)); process.exit(1); });
`;

describe('the local node', () => {
  it('is registered Ready with kubelet 1.34, its bridge address as InternalIP and no taints', async () => {
    const node = await core.readNode({ name: inject('nodeName') });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.34\.\d+$/);
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe(inject('nodeAddress'));
    expect(node.spec?.taints ?? []).toEqual([]);
  });

  it('runs a pod that reaches the API through the kubernetes Service and resolves only cluster and emulator names', async () => {
    const log = await runPodToCompletion(kc, namespace, {
      metadata: { name: 'dns-probe' },
      spec: {
        securityContext: { runAsUser: 65532, runAsGroup: 65532 },
        containers: [{ name: 'probe', image: imageRef(), imagePullPolicy: 'Never', command: ['/nodejs/bin/node', '-e', PROBE], securityContext: RESTRICTED }],
      },
    });
    const out = JSON.parse(log.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
    expect(out.kubernetes).toBe('10.96.0.1');
    expect(out.vault).toBe(inject('nodeAddress'));
    expect(out.authority).toBe(inject('nodeAddress'));
    // No forwarder: a name outside the cluster and the emulator does not resolve.
    expect(out.elsewhere).not.toBe('resolved');
    expect(out.version).toMatch(/^200 v1\.34\.\d+$/);
    // The pod got an address on the bridge.
    const pod = await core.readNamespacedPod({ name: 'dns-probe', namespace });
    expect(pod.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
  });
});

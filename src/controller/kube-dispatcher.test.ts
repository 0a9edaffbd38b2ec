import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { dispatcherKey, shareKubeDispatcher } from './kube-dispatcher.ts';

function kubeConfig(certData: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca').toString('base64') }],
    users: [{ name: 'u', certData: Buffer.from(certData).toString('base64'), keyData: Buffer.from('key').toString('base64') }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function dispatcherOf(kc: k8s.KubeConfig): Promise<unknown> {
  const ctx = new k8s.RequestContext('https://127.0.0.1:6443/api', k8s.HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getDispatcher();
}

describe('shareKubeDispatcher', () => {
  it('client-node alone builds a new dispatcher per request (the reason for the patch)', async () => {
    const kc = kubeConfig('cert-1');
    const a = await dispatcherOf(kc);
    expect(a).toBeDefined();
    expect(await dispatcherOf(kc)).not.toBe(a);
  });

  it('reuses one dispatcher per KubeConfig and TLS options', async () => {
    const kc = kubeConfig('cert-1');
    expect(shareKubeDispatcher(kc)).toBe(true);
    expect(shareKubeDispatcher(kc)).toBe(true);
    const a = await dispatcherOf(kc);
    expect(a).toBeDefined();
    expect(await dispatcherOf(kc)).toBe(a);
  });

  it('gives a rotated client certificate a new dispatcher', async () => {
    const kc = kubeConfig('cert-1');
    shareKubeDispatcher(kc);
    const a = await dispatcherOf(kc);
    const user = kc.getCurrentUser() as { certData?: string };
    user.certData = Buffer.from('cert-2').toString('base64');
    const b = await dispatcherOf(kc);
    expect(b).not.toBe(a);
    expect(await dispatcherOf(kc)).toBe(b);
  });

  it('keys by digests: equal options give equal keys, different certificates different keys, no raw bytes', () => {
    const opts = (cert: string): unknown => ({ type: 'agent', connect: { cert: Buffer.from(cert), keepAlive: true, keepAliveInitialDelay: 30000 } });
    expect(dispatcherKey('https://a', opts('x'))).toBe(dispatcherKey('https://a', opts('x')));
    expect(dispatcherKey('https://a', opts('x'))).not.toBe(dispatcherKey('https://a', opts('y')));
    expect(dispatcherKey('https://a', opts('x'))).not.toBe(dispatcherKey('https://b', opts('x')));
    expect(dispatcherKey('https://a', opts('x'))).toMatch(/^[0-9a-f]{64}$/);
  });
});

import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { pinnedDependency } from '../util/testing/pinned-dependency.ts';
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
  it('fails loudly when the client-node internals it patches change (createDispatcher, pinned version)', () => {
    const patch = 'kube-dispatcher.ts patches the private KubeConfig.createDispatcher of @kubernetes/client-node';
    const { pinned, installed } = pinnedDependency('@kubernetes/client-node');
    expect(pinned, `${patch}: pin an exact version in package.json`).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed, `${patch}: the installed version is not the pinned one; re-check the patch`).toBe(pinned);
    const kc = new k8s.KubeConfig() as unknown as Record<string, unknown>;
    expect(typeof kc['createDispatcher'], `${patch}: it is gone`).toBe('function');
    expect((kc['createDispatcher'] as (...a: unknown[]) => unknown).length, `${patch}: its parameters (cluster, agentOptions) changed`).toBe(2);
    expect(typeof kc['createDispatcherOptions'], `${patch}: it keys pools by the public createDispatcherOptions, which is gone`).toBe('function');
    expect(shareKubeDispatcher(new k8s.KubeConfig()), patch).toBe(true);
  });

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

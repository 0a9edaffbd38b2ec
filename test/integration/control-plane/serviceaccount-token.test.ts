import { request } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

/** GET as an anonymous caller (no client certificate), trusting only the cluster's CA. */
function anonymousGetJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: inject('kubeCaPem') }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(JSON.parse(text));
        else reject(new Error(`GET ${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ServiceAccount tokens for workload identity', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let namespace = '';

  beforeAll(async () => {
    namespace = await createTestNamespace(kc, 'satoken');
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } });
  });
  afterAll(async () => {
    await deleteTestNamespace(kc, namespace);
  });

  it('issues a TokenRequest token that verifies against the issuer discovery and JWKS, fetched anonymously', async () => {
    const audience = 'api://AzureADTokenExchange';
    const tr = await core.createNamespacedServiceAccountToken({
      namespace,
      name: 'app',
      body: { spec: { audiences: [audience], expirationSeconds: 3600 } },
    });
    const token = tr.status?.token ?? '';
    expect(token).not.toBe('');

    const issuer = inject('serviceAccountIssuer');
    const discovery = (await anonymousGetJson(`${issuer}/.well-known/openid-configuration`)) as { issuer: string; jwks_uri: string };
    expect(discovery.issuer).toBe(issuer);
    const jwks = (await anonymousGetJson(discovery.jwks_uri)) as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThan(0);

    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer, audience });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe(`system:serviceaccount:${namespace}:app`);

    // A token whose payload was altered must not verify.
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'system:serviceaccount:kube-system:admin' })).toString('base64url');
    await expect(jwtVerify(`${h}.${forged}.${s}`, createLocalJWKSet(jwks), { issuer, audience })).rejects.toThrow();
  });

  it('gives every new namespace its default ServiceAccount (the ServiceAccount controller runs)', async () => {
    const sa = await pollUntil(
      async () => core.readNamespacedServiceAccount({ namespace, name: 'default' }).catch(() => undefined),
      { timeoutMs: 30_000, description: 'the default ServiceAccount' },
    );
    expect(sa.metadata?.name).toBe('default');
  });
});

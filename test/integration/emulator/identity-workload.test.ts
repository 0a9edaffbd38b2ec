/**
 * Workload identity end to end with REAL parts: a ServiceAccount token issued by the run's kube-apiserver
 * (TokenRequest, audience api://AzureADTokenExchange) is exchanged by the real WorkloadIdentityCredential
 * at the emulated Entra ID, which verifies it against the apiserver's own discovery document and JWKS
 * (fetched anonymously over HTTPS, trusting the cluster CA).
 */
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkloadIdentityCredential } from '@azure/identity';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Clock } from '../../../src/emulator/clock.ts';
import { TokenAuthority } from '../../../src/emulator/identity/authority.ts';
import type { ServicePrincipalConfig } from '../../../src/emulator/identity/contract.ts';
import { createEntraHandler } from '../../../src/emulator/identity/entra.ts';
import { objectIdOf } from '../../../src/emulator/identity/principals.ts';
import { RecordingCounter, makeTestTls, startServer } from '../../../src/emulator/identity/testing/support.ts';
import type { TestServer, TestTls } from '../../../src/emulator/identity/testing/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const TENANT = '7e57e57e-0000-4000-8000-0000000000a1';
const SCOPE = 'https://vault.azure.net/.default';

/** The kubeconfig's cluster CA (inline data or file). */
function clusterCaPem(kc: k8s.KubeConfig): string {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData !== undefined) {
    return Buffer.from(cluster.caData, 'base64').toString('utf8');
  }
  return inject('kubeCaPem');
}

function anonymousGetJson(url: string, ca: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(JSON.parse(text) as Record<string, unknown>);
        else reject(new Error(`GET ${url}: HTTP ${res.statusCode ?? 0}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('WorkloadIdentityCredential with a real ServiceAccount token', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const clock = new Clock();
  const counters = new RecordingCounter();
  const app: ServicePrincipalConfig = { name: 'workload-app', clientId: 'a0000000-0000-4000-8000-0000000000a1', federatedCredentials: [] };
  let namespace = '';
  let tls: TestTls;
  let entra: TestServer;
  let authority: TokenAuthority;
  let dir = '';

  beforeAll(async () => {
    const caPem = clusterCaPem(kc);
    const server = kc.getCurrentCluster()?.server ?? '';
    const discovery = await anonymousGetJson(`${server}/.well-known/openid-configuration`, caPem);
    const issuer = String(discovery.issuer);
    namespace = await createTestNamespace(kc, 'wi');
    for (const name of ['web', 'intruder']) {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    }
    app.federatedCredentials = [{ issuer, subject: `system:serviceaccount:${namespace}:web`, audiences: ['api://AzureADTokenExchange'] }];
    tls = makeTestTls();
    authority = await TokenAuthority.create({ tenantId: TENANT, clock, authorityUrl: () => entra.url });
    entra = await startServer(
      [createEntraHandler({ tenantId: TENANT, authority, servicePrincipals: [app], managedIdentities: [], clock, counters, trustedIssuerCaPems: [caPem] })],
      tls,
    );
    dir = mkdtempSync(join(tmpdir(), 'kvsync-wi-'));
  });
  afterAll(async () => {
    await entra.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteTestNamespace(kc, namespace);
  });

  async function tokenFileFor(serviceAccount: string): Promise<string> {
    const tr = await core.createNamespacedServiceAccountToken({
      namespace,
      name: serviceAccount,
      body: { spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 3600 } },
    });
    const file = join(dir, `${serviceAccount}.token`);
    writeFileSync(file, tr.status?.token ?? '', { mode: 0o600 });
    return file;
  }

  const credentialFor = (tokenFilePath: string) =>
    new WorkloadIdentityCredential({
      tenantId: TENANT,
      clientId: app.clientId,
      tokenFilePath,
      authorityHost: entra.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: tls.caPem },
    });

  it('exchanges the ServiceAccount token for a Key Vault access token', async () => {
    const token = await credentialFor(await tokenFileFor('web')).getToken(SCOPE);
    expect(await authority.verifyAccessToken(token.token)).toMatchObject({
      ok: true,
      token: { clientId: app.clientId, objectId: objectIdOf(app), tenantId: TENANT },
    });
    expect(counters.entries).toContainEqual({ vault: '', operation: 'token', status: 200 });
  });

  it('refuses a token of another ServiceAccount with AADSTS700213', async () => {
    await expect(credentialFor(await tokenFileFor('intruder')).getToken(SCOPE)).rejects.toThrow(
      new RegExp(`AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:${namespace}:intruder'`),
    );
  });
});

/**
 * Threat: a tenant sets `vault.url` to a host of their choosing (an internal service, the cloud's
 * metadata address), and kvsync sends it requests with an Azure token attached and shows part of the
 * answer in status: a blind SSRF from the operator's network position. Defence: only Azure's Key Vault
 * hosts (and the emulator's vaults) are contacted unless the operator lists more host patterns with
 * `--allowed-vault-hosts` (src/api/vault-url.ts). A private-DNS "vault" here is an HTTPS listener that
 * counts every request it gets, reached through the same host map and CA as the emulator.
 */
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import type { KeyVaultSyncObject } from '../../src/controller/reconciler.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { renewCertificates } from '../../src/webhook/certificates.ts';
import { createCredentialsSecret, startWorld, type TestWorld } from '../integration/controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';
import { keyVaultSyncObject } from './support.ts';
import { runKvsync } from './channels.ts';

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const PRIVATE_HOST = 'kv1.vault.contoso.local';
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };

let world: TestWorld;
let listener: Server;
let port = 0;
let requests = 0;
let endpointsFile = '';
const envs: AzureEnvironment[] = [];
const controllers: RunningController[] = [];
const namespaces: string[] = [];

/** A namespace with the service principal's credentials and a controller watching it (with `allowedVaultHosts`). */
async function operatorFor(prefix: string, allowedVaultHosts: string[]): Promise<string> {
  const ns = await createTestNamespace(kc, prefix);
  const opNs = await createTestNamespace(kc, `${prefix}-op`);
  namespaces.push(ns, opNs);
  await createCredentialsSecret(kc, ns, world);
  const azure = await loadAzureEnvironment({ endpointsFile, env: {}, allowedVaultHosts });
  envs.push(azure);
  controllers.push(await startController({ kubeConfig: kc, azure, namespace: opNs, watchNamespace: ns, retryPeriodMs: 500, log: pino({ level: 'silent' }) }));
  return ns;
}

function spec(url: string): Record<string, unknown> {
  return {
    vault: { url, tenantID: world.emu.endpoints.tenantID },
    identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } },
    objects: [{ name: 'db-password' }],
    secretObjects: [{ secretName: 'probe', data: [{ objectName: 'db-password', key: 'value' }] }],
  };
}

async function failedReady(namespace: string, name: string): Promise<{ reason: string; message: string }> {
  return pollUntil(
    async () => {
      const obj = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', name })) as KeyVaultSyncObject;
      const c = (obj.status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((x) => x.type === 'Ready');
      return c?.status === 'False' ? c : undefined;
    },
    { ...WAIT, description: `${namespace}/${name} Ready=False` },
  );
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  // The private "vault": a TLS listener for kv1.vault.contoso.local that counts requests.
  const certs = await renewCertificates(undefined, { dnsNames: [PRIVATE_HOST] });
  listener = createServer({ cert: certs.certPem, key: certs.keyPem }, (_req, res) => {
    requests++;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"code":"NotFound","message":"nothing here"}}');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as AddressInfo).port;
  // The emulator's endpoints, plus the private host in the host map and its CA in the trust bundle.
  const dir = await mkdtemp(join(tmpdir(), 'kvsync-sec-ssrf-'));
  const original = JSON.parse(await readFile(world.endpointsFile, 'utf8')) as { caFile: string; resolve: Record<string, string> };
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, `${await readFile(original.caFile, 'utf8')}\n${certs.caBundlePem}`);
  endpointsFile = join(dir, 'endpoints.json');
  await writeFile(endpointsFile, JSON.stringify({ ...original, caFile, resolve: { ...original.resolve, [PRIVATE_HOST]: '127.0.0.1' } }));
});

afterAll(async () => {
  for (const c of controllers) await c.stop();
  for (const e of envs) e.agent?.destroy();
  await new Promise<void>((resolve) => listener?.close(() => resolve()));
  await world?.emu.stop();
  for (const n of namespaces) await deleteTestNamespace(kc, n);
});

describe('vault host allow-list (SSRF)', () => {
  it('without the flag, a non-Azure host is InvalidSpec and never contacted (controller and render)', async () => {
    const ns = await operatorFor('sec-ssrf', []);
    for (const [name, url] of [
      ['private', `https://${PRIVATE_HOST}:${port}`],
      ['metadata', 'https://169.254.169.254'],
    ] as const) {
      await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'keyvaultsyncs', body: keyVaultSyncObject(ns, name, spec(url)) });
      const ready = await failedReady(ns, name);
      expect(ready.reason).toBe('InvalidSpec');
      expect(ready.message).toContain('is not an Azure Key Vault host');
      expect(ready.message).toContain('--allowed-vault-hosts');
    }
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-sec-ssrf-render-'));
    await writeFile(join(dir, 'sync.yaml'), stringify(keyVaultSyncObject(ns, 'private', spec(`https://${PRIVATE_HOST}:${port}`))));
    const r = await runKvsync(['render', '-f', join(dir, 'sync.yaml'), '--azure-endpoints', endpointsFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not an Azure Key Vault host');
    expect(requests).toBe(0);
  });

  it('with the host listed, the same spec is contacted (and the flag allows nothing else)', async () => {
    const ns = await operatorFor('sec-ssrf-allowed', [`*.vault.contoso.local:${port}`]);
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'keyvaultsyncs', body: keyVaultSyncObject(ns, 'private', spec(`https://${PRIVATE_HOST}:${port}`)) });
    await pollUntil(() => (requests > 0 ? true : undefined), { ...WAIT, description: 'a request at the listed private host' });
    expect((await failedReady(ns, 'private')).reason).not.toBe('InvalidSpec');
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'keyvaultsyncs', body: keyVaultSyncObject(ns, 'metadata', spec('https://169.254.169.254')) });
    expect((await failedReady(ns, 'metadata')).reason).toBe('InvalidSpec');
  });
});

/**
 * The hostile-input corpus: every case of every file in test/security/corpus/ (adding a file is
 * enough) is run through the code that meets that input, and must (1) be refused with its expected
 * reason, (2) crash nothing (no uncaught exception or unhandled rejection), (3) stall nothing (the
 * webhook and the Event Grid endpoint still answer a good request, a healthy KeyVaultSync still syncs)
 * and (4) write nothing (no Secret of a hostile spec exists). Specs also run once through the real
 * apiserver and controller.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../../src/api/index.ts';
import { EntraTokenAuthenticator } from '../../src/eventgrid/auth.ts';
import { startEventGridEndpoint, type RunningEventGridEndpoint } from '../../src/eventgrid/endpoint.ts';
import { bundleFromFile, bundleFromKeyVaultSecret, isPkiError } from '../../src/pki/bundle.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { keyVaultSyncLookup } from '../../src/webhook/kube-cluster-view.ts';
import { defaultAzureEnvironment, loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from '../integration/controller/support.ts';
import { adminPrincipal, bearer } from '../integration/emulator/kv-support.ts';
import { kubeConfig, statusOf } from '../integration/support/kube.ts';
import type { CorpusCase, CorpusContext } from './corpus/types.ts';
import { keyVaultSyncObject } from './support.ts';
import { startTestWebhook, type TestWebhook } from './webhook-support.ts';

// Every corpus file (types.ts aside) is loaded: adding a file adds its cases.
const CORPUS_DIR = join(import.meta.dirname, 'corpus');
const CASES: CorpusCase[] = [];
for (const file of readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.ts') && f !== 'types.ts').sort()) {
  const m = (await import(join(CORPUS_DIR, file))) as { cases?: CorpusCase[] };
  CASES.push(...(m.cases ?? []));
}
const AUDIENCE = 'api://kvsync-corpus';
const KEY = 'corpus-key-0123456789abcdef';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const crashes: string[] = [];
const onCrash = (err: unknown): void => {
  crashes.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
};
let fx: OperatorFixture;
let webhook: TestWebhook;
let endpoint: RunningEventGridEndpoint;
let tokens: EntraTokenAuthenticator;
let ctx: CorpusContext;
let refreshes = 0;
let env: AzureEnvironment | undefined;

interface Outcome {
  reason: string;
  detail: string;
}

function inputOf(c: CorpusCase): Promise<unknown> {
  return typeof c.input === 'function' ? (c.input as (x: CorpusContext) => Promise<unknown>)(ctx) : Promise.resolve(c.input);
}

function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (x: Buffer) => chunks.push(x));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One runner per kind: what the code that meets the input reports. */
const RUNNERS: Partial<Record<CorpusCase['kind'], (input: unknown) => Promise<Outcome>>> = {
  spec: (input) => {
    const r = parseKeyVaultSync(keyVaultSyncObject('corpus', 'hostile', input as Record<string, unknown>));
    return Promise.resolve(r.ok ? { reason: 'Valid', detail: '' } : { reason: r.error.reason, detail: r.error.message });
  },
  'admission-review': async (input) => {
    try {
      const answer = await webhook.admitRaw(typeof input === 'string' ? input : JSON.stringify(input));
      if (answer.status !== 200) return { reason: `HTTP ${answer.status}`, detail: answer.body };
      const response = (JSON.parse(answer.body) as { response: { allowed: boolean; status?: { message: string } } }).response;
      return response.allowed ? { reason: 'Allowed', detail: '' } : { reason: 'Denied', detail: response.status?.message ?? '' };
    } catch (err) {
      return { reason: 'ConnectionFailed', detail: String(err) };
    }
  },
  'eventgrid-delivery': async (input) => {
    const { headers, body } = input as { headers: Record<string, string>; body: string };
    try {
      const r = await post(endpoint.url, headers, body);
      return { reason: `HTTP ${r.status}`, detail: r.body };
    } catch (err) {
      return { reason: 'ConnectionFailed', detail: String(err) };
    }
  },
  token: async (input) => {
    const r = await tokens.authenticate({ authorization: input as string, sasKey: undefined, queryCode: undefined });
    return r.ok ? { reason: 'Accepted', detail: '' } : { reason: r.why, detail: r.why };
  },
  pfx: (input) => pkiOutcome(() => bundleFromFile(input as Buffer)),
  pem: (input) => pkiOutcome(() => bundleFromKeyVaultSecret(input as string, 'application/x-pem-file')),
};

function pkiOutcome(build: () => unknown): Promise<Outcome> {
  try {
    build();
    return Promise.resolve({ reason: 'Valid', detail: '' });
  } catch (err) {
    return Promise.resolve(isPkiError(err) ? { reason: err.reason, detail: err.message } : { reason: 'UnexpectedError', detail: String(err) });
  }
}

beforeAll(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  fx = await startOperatorFixture(kc, 'sec-corpus');
  const stored = keyVaultSyncObject('shop', 'shop', { vault: { name: 'gebakv', tenantID: fx.world.emu.endpoints.tenantID }, identity: { workloadIdentity: { serviceAccountName: 'app' } }, objects: [{ name: 'db' }], secretObjects: [{ secretName: 'shop-db', data: [{ objectName: 'db' }] }] });
  webhook = await startTestWebhook(
    {
      getKeyVaultSync: (namespace, name) => Promise.resolve(namespace === 'shop' && name === 'shop' ? keyVaultSyncLookup(stored, defaultAzureEnvironment()) : { kind: 'missing' }),
      getServiceAccountAnnotations: () => Promise.resolve({ 'azure.workload.identity/client-id': '11111111-2222-3333-4444-555555555555' }),
      getKeyVaultIdentity: () => Promise.resolve({ kind: 'missing' }),
      getNamespaceLabels: () => Promise.resolve({}),
    },
    { operatorNamespace: 'kvsync-system', sidecarImage: 'kvsync:test' },
  );
  endpoint = await startEventGridEndpoint({
    addr: '127.0.0.1:0',
    authenticator: { authenticate: (c) => Promise.resolve(c.sasKey === KEY ? { ok: true, method: 'sharedKey' } : { ok: false, why: 'shared key mismatch' }) },
    isLeader: () => true,
    refresh: () => {
      refreshes++;
      return { outcome: 'refreshed', keys: [] };
    },
    log: { info: () => undefined, warn: () => undefined },
  });
  const admin = adminPrincipal(fx.world.emu);
  env = await loadAzureEnvironment({ endpointsFile: fx.world.endpointsFile, env: {} });
  tokens = new EntraTokenAuthenticator({ authorityHost: fx.world.emu.endpoints.authorityHost, tenantId: fx.world.emu.endpoints.tenantID, audiences: [AUDIENCE], allowedClientIds: [admin.clientId], agent: env.agent });
  const forgeKey = await generateKeyPair('RS256');
  const issuer = `${fx.world.emu.endpoints.authorityHost}/${fx.world.emu.endpoints.tenantID}/v2.0`;
  ctx = {
    validToken: () => bearer(fx.world.emu, admin, `${AUDIENCE}/.default`),
    forged: (claims, header = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...header }).sign(forgeKey.privateKey),
    tenantId: fx.world.emu.endpoints.tenantID,
    audience: AUDIENCE,
    issuer,
  };
});

afterAll(async () => {
  await webhook?.close();
  await endpoint?.close();
  env?.agent?.destroy();
  await fx?.stop();
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

describe('hostile-input corpus', () => {
  it('has cases of every kind it runs, each with a runner', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
    for (const c of CASES) expect(RUNNERS[c.kind], `${c.kind}: ${c.name}`).toBeDefined();
  });

  for (const c of CASES) {
    it(`${c.kind}: ${c.name} → ${c.reason}`, async () => {
      const runner = RUNNERS[c.kind];
      if (runner === undefined) throw new Error(`no runner for kind ${c.kind}`);
      const outcome = await runner(await inputOf(c));
      expect(outcome.reason).toBe(c.reason);
      if (c.detail !== undefined) expect(outcome.detail).toContain(c.detail);
    });
  }

  it('every spec case is refused through the real apiserver and controller, nothing is written, and a healthy KeyVaultSync still syncs', async () => {
    const syncs = syncApi(kc);
    const accepted: { name: string; c: CorpusCase }[] = [];
    for (const [i, c] of CASES.filter((x) => x.kind === 'spec').entries()) {
      const name = `hostile-${i}`;
      const created = await syncs.create(fx.ns, name, c.input as Record<string, unknown>).then(
        () => true,
        (err: unknown) => {
          // Refused by the CRD (schema or CEL): the controller never sees it.
          expect(statusOf(err)).toBe(422);
          return false;
        },
      );
      if (created) accepted.push({ name, c });
    }
    await syncs.create(fx.ns, 'healthy', syncSpec(fx.world, { objects: [{ name: 'db-password' }], secretObjects: [{ secretName: 'healthy', data: [{ objectName: 'db-password', key: 'value' }] }] }));
    await pollUntil(async () => (conditionOf(await syncs.get(fx.ns, 'healthy'), 'Ready')?.status === 'True' ? true : undefined), { timeoutMs: 45_000, description: 'the healthy KeyVaultSync Ready' });
    for (const { name, c } of accepted) {
      const ready = await pollUntil(async () => conditionOf(await syncs.get(fx.ns, name), 'Ready'), { timeoutMs: 45_000, description: `${name} Ready decided` });
      expect(ready, c.name).toMatchObject({ status: 'False', reason: c.reason });
    }
    const written = (await core.listNamespacedSecret({ namespace: fx.ns })).items.map((s) => s.metadata?.name);
    expect(written).not.toContain('hostile-out');
  });

  it('nothing crashed, and the webhook and the Event Grid endpoint still answer a good request', async () => {
    expect(crashes).toEqual([]);
    expect(refreshes).toBe(0);
    const ok = await post(endpoint.url, { 'content-type': 'application/json', 'aeg-sas-key': KEY }, JSON.stringify([{ id: '1', topic: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/gebakv', subject: 'db', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', eventTime: '2026-11-24T20:40:53Z', dataVersion: '1', metadataVersion: '1', data: { Id: 'https://gebakv.vault.azure.net/secrets/db/0123abcd', VaultName: 'gebakv', ObjectType: 'Secret', ObjectName: 'db', Version: '0123abcd', NBF: null, EXP: null } }]));
    expect(ok.status).toBe(200);
    expect(refreshes).toBe(1);
    const answer = await webhook.admit('shop', { metadata: { name: 'p', labels: { 'kvsync.dev/inject': 'enabled' } }, spec: { serviceAccountName: 'app', containers: [{ name: 'c', image: 'busybox', env: [{ name: 'DB', value: 'kvsync:shop/db' }] }] } });
    expect(answer.allowed).toBe(true);
    expect(webhook.patchOf(answer).length).toBeGreaterThan(0);
  });
});

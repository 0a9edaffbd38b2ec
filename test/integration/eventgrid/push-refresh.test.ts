/**
 * Push refresh end to end: the emulator's Event Grid publisher, subscribed to the
 * controller's endpoint, delivers Key Vault "new version" events; the KeyVaultSync using the secret is
 * refreshed by the event although its refreshInterval is 1 h (the latencies are printed as figures; how
 * fast is the bench's question, not this test's). Both schemas and both handshakes, the
 * shared key as `aeg-sas-key` header and as `code` parameter, Entra tokens issued by the emulator (right
 * and wrong audience), refusals of wrong keys, and one read per change — counted by the emulator's
 * request counters and delivery log, not by kvsync's own claims.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { conditionOf, createCredentialsSecret, runController, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from '../controller/support.ts';
import { admin, adminPrincipal, bearer, clientsFor, countOf, requestCounts, type Clients } from '../emulator/kv-support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const KEY = 'push-refresh-test-key-0123456789';
const AUDIENCE = 'api://kvsync-eventgrid-test';
const WAIT = { timeoutMs: 45_000, intervalMs: 100 };
const NEW_VERSION_TYPES = ['Microsoft.KeyVault.SecretNewVersionCreated', 'Microsoft.KeyVault.CertificateNewVersionCreated'];

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let world: TestWorld;
let controller: RunningController;
let clients: Clients;
let endpointUrl = '';
let ns = '';
let opNs = '';
/** Rotation latencies measured (ms), printed at the end. */
const latencies: Record<string, number> = {};

interface Delivery { subscription: string; eventId: string; eventType: string; attempt: number; status: number; outcome: string }

/** One request straight to the controller's endpoint. */
function post(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function secretValue(name: string, key: string): Promise<string | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace: ns, name });
    const v = s.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  } catch {
    return undefined;
  }
}

/** A KeyVaultSync of one secret into Secret `name` (key `value`), refreshed only hourly. */
async function createSync(name: string, object: string): Promise<void> {
  await syncApi(kc).create(ns, name, syncSpec(world, { objects: [{ name: object, type: 'secret' }], secretObjects: [{ secretName: name, type: 'Opaque', data: [{ objectName: object, key: 'value' }] }], refreshInterval: '1h' }));
  await pollUntil(async () => (conditionOf(await syncApi(kc).get(ns, name), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: `KeyVaultSync ${name} Ready` });
}

async function subscribe(body: Record<string, unknown>): Promise<{ status: number; code: string | undefined }> {
  const r = await admin(world.emu, 'POST', '/eventgrid/subscriptions', { includedEventTypes: NEW_VERSION_TYPES, vaults: [VAULT], retryPolicy: { maxDeliveryAttempts: 3, initialDelayMs: 200, maxDelayMs: 1000 }, ...body });
  return { status: r.status, code: (r.json as { error?: { code?: string } } | undefined)?.error?.code };
}

async function deliveries(subscription: string): Promise<Delivery[]> {
  const r = await admin(world.emu, 'GET', '/eventgrid/deliveries');
  return (r.json as { value: Delivery[] }).value.filter((d) => d.subscription === subscription);
}

/** Sets a new version and waits for the Secret to carry it; answers the latency in ms and the version. */
async function rotate(object: string, secretName: string, value: string): Promise<{ ms: number; version: string }> {
  const started = performance.now();
  const set = await clients.secrets.setSecret(object, value);
  await pollUntil(async () => ((await secretValue(secretName, 'value')) === value ? true : undefined), { ...WAIT, description: `Secret ${secretName} carrying the new version` });
  return { ms: Math.round(performance.now() - started), version: set.properties.version ?? '' };
}

const getSecretReads = async (): Promise<number> => countOf(await requestCounts(world.emu), 'getSecret', 200, VAULT);

async function metric(type: string, result: string): Promise<number> {
  const { body } = await controller.metrics.scrape();
  const line = body.split('\n').find((l) => l.startsWith(`kvsync_eventgrid_events_total{type="${type}",result="${result}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  clients = clientsFor(world.emu);
  await clients.secrets.setSecret('entra-secret', 'entra-1');
  ns = await createTestNamespace(kc, 'eg-push');
  opNs = await createTestNamespace(kc, 'eg-push-op');
  await createCredentialsSecret(kc, ns, world);
  const keyFile = join(await mkdtemp(join(tmpdir(), 'kvsync-eg-it-')), 'key');
  await writeFile(keyFile, `${KEY}\n`, { mode: 0o600 });
  controller = await runController(kc, world, { namespace: opNs, watchNamespace: ns, healthAddr: '127.0.0.1:0', eventGrid: { addr: '127.0.0.1:0', keyFile, audiences: [AUDIENCE], allowedClientIds: [world.emu.endpoints.admin.clientID] } });
  endpointUrl = controller.eventGrid?.url ?? '';
  expect(endpointUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/eventgrid$/);
  await Promise.all([createSync('eg-db', 'db-password'), createSync('eg-api', 'api-token'), createSync('eg-entra', 'entra-secret')]);
  await syncApi(kc).create(ns, 'eg-tls', syncSpec(world, { objects: [{ name: 'shop-tls', type: 'certificate' }], secretObjects: [{ secretName: 'eg-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] }], refreshInterval: '1h' }));
  await pollUntil(async () => (conditionOf(await syncApi(kc).get(ns, 'eg-tls'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'KeyVaultSync eg-tls Ready' });
});

afterAll(async () => {
  console.log(`[eventgrid] push rotation latency (ms): ${JSON.stringify(latencies)}`);
  await controller?.stop();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
});

describe('Event Grid push refresh', () => {
  it('Event Grid schema with aeg-sas-key: the event brings a new version to the Secret with one read; a redelivery costs nothing', async () => {
    expect(await subscribe({ name: 'eg-schema', endpointUrl, eventDeliverySchema: 'EventGridSchema', sharedKey: KEY, subjectBeginsWith: 'db-password' })).toEqual({ status: 201, code: undefined });
    expect(await admin(world.emu, 'DELETE', '/requests')).toMatchObject({ status: 204 });
    const { ms, version } = await rotate('db-password', 'eg-db', 'rotated-2');
    latencies.eventGridSchema = ms;
    // The event refreshed it: the KeyVaultSync's own refresh is an hour away.
    expect(await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed')).toBe(1);
    const [first, ...more] = await deliveries('eg-schema');
    expect(first).toMatchObject({ eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', attempt: 1, status: 200, outcome: 'delivered' });
    expect(more).toEqual([]);
    expect(await getSecretReads()).toBe(1);

    // Event Grid delivers at least once: the same event again is acknowledged and refreshes nothing.
    const redelivery = JSON.stringify([{
      id: first?.eventId, topic: `/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`, subject: 'db-password', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated',
      eventTime: new Date().toISOString(), dataVersion: '1', metadataVersion: '1',
      data: { Id: `https://${VAULT}.vault.azure.net/secrets/db-password/${version}`, VaultName: VAULT, ObjectType: 'Secret', ObjectName: 'db-password', Version: version, NBF: null, EXP: null },
    }]);
    expect(await post(endpointUrl, { 'content-type': 'application/json', 'aeg-sas-key': KEY }, redelivery)).toBe(200);
    expect(await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'duplicate')).toBe(1);
    // The next real change costs exactly one more read: the redelivery queued no refresh of its own.
    await rotate('db-password', 'eg-db', 'rotated-3');
    expect(await getSecretReads()).toBe(2);
    expect(await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed')).toBe(2);
  });

  it('CloudEvents 1.0 with the key as code parameter: the OPTIONS handshake passes and the event refreshes', async () => {
    expect(await subscribe({ name: 'cloud-events', endpointUrl: `${endpointUrl}?code=${KEY}`, eventDeliverySchema: 'CloudEventSchemaV1_0', subjectBeginsWith: 'api-token' })).toEqual({ status: 201, code: undefined });
    const refreshed = await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed');
    latencies.cloudEvents = (await rotate('api-token', 'eg-api', 'tok-rotated')).ms;
    expect(await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed')).toBe(refreshed + 1);
    expect(await deliveries('cloud-events')).toMatchObject([{ eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', status: 200, outcome: 'delivered' }]);
  });

  it('a new certificate version (announced as certificate and as backing secret) refreshes the TLS Secret once', async () => {
    expect(await subscribe({ name: 'certificates', endpointUrl, sharedKey: KEY, subjectBeginsWith: 'shop-tls' })).toEqual({ status: 201, code: undefined });
    const both = async (result: string): Promise<number> => (await metric('Microsoft.KeyVault.CertificateNewVersionCreated', result)) + (await metric('Microsoft.KeyVault.SecretNewVersionCreated', result));
    const before = { refreshed: await both('refreshed'), duplicates: await both('duplicate') };
    const oldCrt = await secretValue('eg-tls', 'tls.crt');
    const policy = await clients.certificates.getCertificatePolicy('shop-tls');
    const started = performance.now();
    await (await clients.certificates.beginCreateCertificate('shop-tls', policy, { intervalInMs: 50 })).pollUntilDone();
    await pollUntil(async () => {
      const crt = await secretValue('eg-tls', 'tls.crt');
      return crt !== undefined && crt !== oldCrt ? true : undefined;
    }, { ...WAIT, description: 'the TLS Secret carrying the new certificate' });
    latencies.certificate = Math.round(performance.now() - started);
    await pollUntil(async () => ((await deliveries('certificates')).filter((d) => d.outcome === 'delivered').length === 2 ? true : undefined), { ...WAIT, description: 'both events delivered' });
    expect((await deliveries('certificates')).map((d) => d.eventType).sort()).toEqual(['Microsoft.KeyVault.CertificateNewVersionCreated', 'Microsoft.KeyVault.SecretNewVersionCreated']);
    // One of the two events refreshed, the other announced the same version: a duplicate.
    expect(await both('refreshed')).toBe(before.refreshed + 1);
    expect(await both('duplicate')).toBe(before.duplicates + 1);
  });

  it('refuses a wrong key: the handshake fails and a direct delivery gets 401 and changes nothing', async () => {
    const before = await metric('unknown', 'unauthenticated');
    const refreshed = await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed');
    expect(await subscribe({ name: 'wrong-key', endpointUrl, sharedKey: 'not-the-key-0123456789abcdef' })).toEqual({ status: 400, code: 'WebhookValidationHandshakeFailed' });
    expect(await subscribe({ name: 'wrong-code', endpointUrl: `${endpointUrl}?code=not-the-key-0123456789`, eventDeliverySchema: 'CloudEventSchemaV1_0' })).toEqual({ status: 400, code: 'WebhookValidationHandshakeFailed' });
    const event = JSON.stringify([{ id: 'forged', topic: 't', subject: 'db-password', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', data: { VaultName: VAULT, ObjectName: 'db-password', Version: 'ffffffffffffffffffffffffffffffff' } }]);
    const reads = await getSecretReads();
    expect(await post(endpointUrl, { 'content-type': 'application/json', 'aeg-sas-key': 'wrong' }, event)).toBe(401);
    expect(await post(endpointUrl, { 'content-type': 'application/json' }, event)).toBe(401);
    expect(await metric('unknown', 'unauthenticated')).toBe(before + 4);
    expect(await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed')).toBe(refreshed);
    expect(await getSecretReads()).toBe(reads);
  });

  it('Entra tokens: the emulator-issued token for the audience is accepted, one for another audience is refused', async () => {
    const good = await bearer(world.emu, adminPrincipal(world.emu), `${AUDIENCE}/.default`);
    expect(await subscribe({ name: 'entra', endpointUrl, deliveryHeaders: { Authorization: `Bearer ${good}` }, subjectBeginsWith: 'entra-secret' })).toEqual({ status: 201, code: undefined });
    const refreshed = await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed');
    latencies.entraToken = (await rotate('entra-secret', 'eg-entra', 'entra-2')).ms;
    expect(await metric('Microsoft.KeyVault.SecretNewVersionCreated', 'refreshed')).toBe(refreshed + 1);
    expect(await deliveries('entra')).toMatchObject([{ status: 200, outcome: 'delivered' }]);

    const wrong = await bearer(world.emu, adminPrincipal(world.emu), 'https://vault.azure.net/.default');
    expect(await subscribe({ name: 'entra-wrong', endpointUrl, deliveryHeaders: { Authorization: `Bearer ${wrong}` } })).toEqual({ status: 400, code: 'WebhookValidationHandshakeFailed' });
    const event = JSON.stringify([{ id: 'entra-forged', topic: 't', subject: 'entra-secret', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', data: { VaultName: VAULT, ObjectName: 'entra-secret', Version: 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee' } }]);
    expect(await post(endpointUrl, { 'content-type': 'application/json', authorization: `Bearer ${wrong}` }, event)).toBe(401);
    expect(await post(endpointUrl, { 'content-type': 'application/json', authorization: `Bearer ${good}` }, event)).toBe(200);
  });
});

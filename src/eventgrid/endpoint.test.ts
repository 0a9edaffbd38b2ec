import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTestTls } from '../emulator/identity/testing/support.ts';
import type { DeliveryAuthenticator } from './auth.ts';
import { startEventGridEndpoint, type EventGridEndpointOptions, type RunningEventGridEndpoint } from './endpoint.ts';
import { EVENTGRID_EVENTS_METRIC, createEventGridMetrics } from './metrics.ts';
import type { KeyVaultObjectChange } from './schema.ts';

const KEY = 'endpoint-test-key-0123456789';
const keyAuth: DeliveryAuthenticator = {
  authenticate: (c) => Promise.resolve(c.sasKey === KEY || c.queryCode === KEY ? { ok: true, method: 'sharedKey' } : { ok: false, why: 'nope' }),
};
const silent = { info: () => undefined, warn: () => undefined };
const TOPIC = '/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/gebakv';
const kvEvent = (id: string, type = 'Microsoft.KeyVault.SecretNewVersionCreated') => ({
  id, topic: TOPIC, subject: 'db', eventType: type, eventTime: '2026-11-24T20:40:53.1230000Z', dataVersion: '1', metadataVersion: '1',
  data: { Id: 'https://gebakv.vault.azure.net/secrets/db/0123abcd', VaultName: 'gebakv', ObjectType: 'Secret', ObjectName: 'db', Version: '0123abcd', NBF: null, EXP: null },
});

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

function call(url: string, method: string, headers: Record<string, string>, body?: string, ca?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const onRes = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    };
    const opts = { method, headers: body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers } };
    const req = url.startsWith('https:') ? https.request(url, { ...opts, ca }, onRes) : http.request(url, opts, onRes);
    req.on('error', reject);
    req.end(body);
  });
}

describe('Event Grid endpoint', () => {
  let endpoint: RunningEventGridEndpoint | undefined;
  afterEach(async () => {
    await endpoint?.close();
    endpoint = undefined;
  });

  async function start(over: Partial<EventGridEndpointOptions> = {}): Promise<{ url: string; refreshed: KeyVaultObjectChange[]; counts: string[]; leader: { value: boolean } }> {
    const refreshed: KeyVaultObjectChange[] = [];
    const counts: string[] = [];
    const leader = { value: true };
    endpoint = await startEventGridEndpoint({
      addr: '127.0.0.1:0',
      authenticator: keyAuth,
      isLeader: () => leader.value,
      refresh: (c) => {
        refreshed.push(c);
        return { outcome: 'refreshed', keys: ['ns/a'] };
      },
      metrics: { event: (type, result) => counts.push(`${type}:${result}`) },
      log: silent,
      ...over,
    });
    return { url: endpoint.url, refreshed, counts, leader };
  }

  const json = { 'content-type': 'application/json; charset=utf-8', 'aeg-sas-key': KEY, 'aeg-event-type': 'Notification' };

  it('rejects unauthenticated requests with 401 before reading anything, warning at most once per 10 s', async () => {
    const warnings: Record<string, unknown>[] = [];
    const { url, refreshed, counts } = await start({ log: { info: () => undefined, warn: (o) => void warnings.push(o) } });
    const r = await call(url, 'POST', { 'content-type': 'application/json', 'aeg-sas-key': 'wrong' }, JSON.stringify([kvEvent('e1')]));
    expect(r.status).toBe(401);
    expect((await call(url, 'OPTIONS', { 'webhook-request-origin': 'eventgrid.azure.net' })).status).toBe(401);
    expect(refreshed).toEqual([]);
    expect(counts).toEqual(['unknown:unauthenticated', 'unknown:unauthenticated']);
    expect(warnings).toEqual([{ method: 'POST', remote: '127.0.0.1', why: 'nope', alsoRejectedSinceLastLog: 0 }]);
  });

  it('answers both handshakes (key as header or code parameter), on any replica', async () => {
    const { url, counts, leader } = await start();
    leader.value = false;
    const v = await call(url, 'POST', { ...json, 'aeg-event-type': 'SubscriptionValidation' }, JSON.stringify([{ ...kvEvent('v1', 'Microsoft.EventGrid.SubscriptionValidationEvent'), data: { validationCode: 'CODE-42' } }]));
    expect([v.status, JSON.parse(v.body)]).toEqual([200, { validationResponse: 'CODE-42' }]);
    const o = await call(`${url}?code=${KEY}`, 'OPTIONS', { 'webhook-request-origin': 'eventgrid.azure.net', 'webhook-request-rate': '120' });
    expect([o.status, o.headers['webhook-allowed-origin'], o.headers['webhook-allowed-rate']]).toEqual([200, 'eventgrid.azure.net', '*']);
    expect(counts).toEqual(['Microsoft.EventGrid.SubscriptionValidationEvent:validated', 'Microsoft.EventGrid.SubscriptionValidationEvent:validated']);
  });

  it('refreshes on new-version events of either schema and acknowledges other types', async () => {
    const { url, refreshed, counts } = await start();
    const batch = await call(url, 'POST', json, JSON.stringify([kvEvent('e1'), kvEvent('e2', 'Microsoft.KeyVault.SecretNearExpiry')]));
    expect(batch.status).toBe(200);
    const cloud = { id: 'c1', source: TOPIC, specversion: '1.0', type: 'Microsoft.KeyVault.CertificateNewVersionCreated', subject: 'tls', data: { ...kvEvent('x').data, ObjectType: 'Certificate', ObjectName: 'tls' } };
    expect((await call(url, 'POST', { ...json, 'content-type': 'application/cloudevents+json; charset=utf-8' }, JSON.stringify(cloud))).status).toBe(200);
    expect(refreshed.map((c) => `${c.eventId} ${c.objectType} ${c.vaultName}/${c.objectName}@${c.version}`)).toEqual(['e1 Secret gebakv/db@0123abcd', 'c1 Certificate gebakv/tls@0123abcd']);
    expect(counts).toEqual(['Microsoft.KeyVault.SecretNearExpiry:ignored', 'Microsoft.KeyVault.SecretNewVersionCreated:refreshed', 'Microsoft.KeyVault.CertificateNewVersionCreated:refreshed']);
  });

  it('answers 503 for new-version events on a replica that is not the leader', async () => {
    const { url, refreshed, counts, leader } = await start();
    leader.value = false;
    const r = await call(url, 'POST', json, JSON.stringify([kvEvent('e1')]));
    expect(r.status).toBe(503);
    expect(refreshed).toEqual([]);
    expect(counts).toEqual(['Microsoft.KeyVault.SecretNewVersionCreated:not_leader']);
    // Other types need no leader.
    expect((await call(url, 'POST', json, JSON.stringify([kvEvent('e2', 'Microsoft.KeyVault.SecretExpired')]))).status).toBe(200);
  });

  it('refuses malformed, mistyped and oversized bodies and unknown paths or methods', async () => {
    const { url, refreshed } = await start({ maxBodyBytes: 4096 });
    expect((await call(url, 'POST', json, '{"not":"events"}')).status).toBe(400);
    expect((await call(url, 'POST', json, JSON.stringify([{ ...kvEvent('e1'), data: { VaultName: 'gebakv' } }, kvEvent('e2')]))).status).toBe(400);
    expect((await call(url, 'POST', { ...json, 'content-type': 'text/plain' }, '[]')).status).toBe(415);
    expect((await call(url, 'POST', json, JSON.stringify([kvEvent('big'), { pad: 'x'.repeat(5000) }]))).status).toBe(413);
    expect((await call(url.replace('/eventgrid', '/other'), 'POST', json, '[]')).status).toBe(404);
    const get = await call(url, 'GET', { 'aeg-sas-key': KEY });
    expect([get.status, get.headers.allow]).toEqual([405, 'POST, OPTIONS']);
    // A batch with one bad event refreshes nothing.
    expect(refreshed).toEqual([]);
  });

  it('serves HTTPS from a certificate directory', async () => {
    const tls = makeTestTls();
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-egtls-'));
    await writeFile(join(dir, 'tls.crt'), tls.certPem);
    await writeFile(join(dir, 'tls.key'), tls.keyPem);
    const { url, refreshed } = await start({ certDir: dir });
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/eventgrid$/);
    expect((await call(url, 'POST', json, JSON.stringify([kvEvent('e1')]), tls.caPem)).status).toBe(200);
    expect(refreshed).toHaveLength(1);
  });

  it('counts into kvsync_eventgrid_events_total', async () => {
    const registry = new Registry();
    const { url } = await start({ metrics: createEventGridMetrics(registry) });
    await call(url, 'POST', json, JSON.stringify([kvEvent('e1'), kvEvent('e2', 'Custom.Type')]));
    const text = await registry.metrics();
    expect(text).toContain(`${EVENTGRID_EVENTS_METRIC}{type="Microsoft.KeyVault.SecretNewVersionCreated",result="refreshed"} 1`);
    expect(text).toContain(`${EVENTGRID_EVENTS_METRIC}{type="other",result="ignored"} 1`);
  });
});

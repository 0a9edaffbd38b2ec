/**
 * Authentication and authorization like Azure: the challenge 401 (before the body is read), refused
 * tokens, Azure RBAC roles (no role → 403 ForbiddenByRbac, Reader → metadata only, Secrets User,
 * object-scoped assignments), and traffic faults: 429 + Retry-After retried by the SDK, 5xx, dropped
 * and reset connections, answers cut off mid-body or under a wrong Content-Type, latency, per-vault
 * throttling, faults of the token endpoints and the token lifetime.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedGuid } from '../../../src/emulator/config.ts';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { admin, bearer, clientsFor, countOf, credentialFor, rawRequest, requestCounts, startTestEmulator, type Clients, type Principal } from './kv-support.ts';

const nobody: Principal = { clientId: derivedGuid('client', 'nobody'), secret: 'nobody-secret' };
const reader: Principal = { clientId: derivedGuid('client', 'reader'), secret: 'reader-secret' };
const appUser: Principal = { clientId: derivedGuid('client', 'app'), secret: 'app-secret' };
const scoped: Principal = { clientId: derivedGuid('client', 'scoped'), secret: 'scoped-secret' };

const config = {
  tenantId: '11111111-2222-3333-4444-555555555555',
  vaults: [{ name: 'devkv', secrets: [{ name: 'db-password', value: 'hunter2' }, { name: 'other', value: 'x' }] }, { name: 'second-kv', requestsPer10s: 3 }],
  servicePrincipals: [
    { name: 'nobody', secrets: [nobody.secret] },
    { name: 'reader', secrets: [reader.secret] },
    { name: 'app', secrets: [appUser.secret] },
    { name: 'scoped', secrets: [scoped.secret] },
  ],
  roleAssignments: [
    { principal: 'reader', role: 'Key Vault Reader', vault: 'devkv' },
    { principal: 'app', role: 'Key Vault Secrets User', vault: 'devkv' },
    { principal: 'scoped', role: 'Key Vault Secrets User', vault: 'devkv', scope: 'secrets/db-password' },
  ],
};

let emu: RunningEmulator;
let adminClients: Clients;

beforeAll(async () => {
  emu = await startTestEmulator(config);
  adminClients = clientsFor(emu);
});
afterAll(async () => {
  await emu.stop();
});

describe('challenge and tokens', () => {
  it('answers a request without a token with 401 and the challenge before reading the body', async () => {
    const url = `${adminClients.vaultUrl}/secrets/db-password?api-version=2026-04-01`;
    // A PUT with Content-Type JSON and an empty body, as the SDK's first request looks.
    const res = await rawRequest(emu, 'PUT', url, { headers: { 'Content-Type': 'application/json', 'Content-Length': '0' } });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${emu.endpoints.authorityHost}/${config.tenantId}", resource="https://vault.azure.net"`);
    expect(res.json).toEqual({ error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } });
  });

  it('refuses tampered, wrong-audience and expired tokens with 401 and Azure\'s error body', async () => {
    const url = `${adminClients.vaultUrl}/secrets/db-password/?api%2Dversion=2026-04-01`;
    const good = await bearer(emu);
    const ok = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${good}` } });
    expect(ok.status).toBe(200);

    const [h, p, s] = good.split('.');
    const tampered = `${h}.${p}.${(s ?? '').slice(0, -4)}AAAA`;
    const bad = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${tampered}` } });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('resource="https://vault.azure.net"');
    expect(bad.json).toMatchObject({ error: { code: 'Unauthorized' } });

    const mgmt = await bearer(emu, undefined, 'https://management.azure.com/.default');
    const wrongAud = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${mgmt}` } });
    expect(wrongAud.status).toBe(401);
    expect((wrongAud.json as { error: { message: string } }).error.message).toMatch(/^AKV10022: Invalid audience/);

    expect((await admin(emu, 'POST', '/time', { shiftSeconds: 2 * 3600 })).status).toBe(200);
    try {
      const expired = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${good}` } });
      expect(expired.status).toBe(401);
      expect((expired.json as { error: { code: string; message: string } }).error).toMatchObject({ code: 'Unauthorized', message: expect.stringContaining('expired') as unknown });
      // Answers are dated on the shifted clock, as Azure dates them on its own (kvsync compares that Date with `updated`).
      const dated = Date.parse(String(expired.headers.date)) - Date.now();
      expect(dated).toBeGreaterThan(2 * 3600_000 - 60_000);
      expect(dated).toBeLessThan(2 * 3600_000 + 60_000);
    } finally {
      expect((await admin(emu, 'DELETE', '/time')).status).toBe(200);
    }
    const again = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${good}` } });
    expect(again.status).toBe(200);
  });
});

describe('Azure RBAC', () => {
  it('answers 403 ForbiddenByRbac naming the caller and action for a principal without a role', async () => {
    const c = clientsFor(emu, nobody);
    const err = (await c.secrets.getSecret('db-password').catch((e: unknown) => e)) as { statusCode?: number; code?: string; message?: string; details?: unknown };
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Forbidden');
    expect(err.message).toContain('Caller is not authorized to perform action on resource.');
    expect(err.message).toContain(`appid=${nobody.clientId}`);
    expect(err.message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'");
    expect(err.details).toMatchObject({ error: { innerError: { code: 'ForbiddenByRbac' } } });
    await expect(c.secrets.setSecret('x', 'y')).rejects.toMatchObject({ statusCode: 403 });
  });

  it('lets a Reader list and read metadata but not values', async () => {
    const c = clientsFor(emu, reader);
    const names: string[] = [];
    for await (const p of c.secrets.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toEqual(expect.arrayContaining(['db-password', 'other']));
    await expect(c.secrets.getSecret('db-password')).rejects.toMatchObject({ statusCode: 403, code: 'Forbidden' });
    await expect(c.secrets.setSecret('db-password', 'nope')).rejects.toMatchObject({ statusCode: 403 });
  });

  it('lets a Secrets User read values but not write; an object-scoped assignment covers only its object', async () => {
    const app = clientsFor(emu, appUser);
    expect((await app.secrets.getSecret('db-password')).value).toBe('hunter2');
    await expect(app.secrets.setSecret('db-password', 'nope')).rejects.toMatchObject({ statusCode: 403 });
    const s = clientsFor(emu, scoped);
    expect((await s.secrets.getSecret('db-password')).value).toBe('hunter2');
    await expect(s.secrets.getSecret('other')).rejects.toMatchObject({ statusCode: 403 });
    // Listing is a vault-level action: an object-scoped assignment does not grant it.
    await expect((async () => {
      for await (const p of s.secrets.listPropertiesOfSecrets()) void p;
    })()).rejects.toMatchObject({ statusCode: 403 });
    // No role on the second vault.
    await expect(clientsFor(emu, appUser, 'second-kv').secrets.getSecret('db-password')).rejects.toMatchObject({ statusCode: 403 });
  });
});

describe('faults and throttling', () => {
  it('retries an injected 429 with Retry-After in the SDK and succeeds', async () => {
    await admin(emu, 'DELETE', '/requests');
    const f = await admin(emu, 'POST', '/faults', { vault: 'devkv', operation: 'getSecret', status: 429, retryAfterSeconds: 1, count: 2 });
    expect(f.status).toBe(201);
    const started = Date.now();
    expect((await adminClients.secrets.getSecret('db-password')).value).toBe('hunter2');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    const counts = await requestCounts(emu);
    expect(countOf(counts, 'getSecret', 429)).toBe(2);
    expect(countOf(counts, 'getSecret', 200)).toBe(1);
  });

  it('injects 5xx (retried by the SDK), and surfaces a persistent 500 with its code', async () => {
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', status: 503, retryAfterSeconds: 0, count: 1 });
    expect((await adminClients.secrets.getSecret('db-password')).value).toBe('hunter2');
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', status: 500, durationSeconds: 30 });
    await expect(adminClients.secrets.getSecret('db-password')).rejects.toMatchObject({ statusCode: 500, code: 'InternalServerError' });
    expect((await admin(emu, 'DELETE', '/faults')).status).toBe(204);
    expect((await adminClients.secrets.getSecret('db-password')).value).toBe('hunter2');
  });

  it('drops connections and adds latency on request', async () => {
    const token = await bearer(emu);
    const url = `${adminClients.vaultUrl}/secrets/db-password/?api-version=7.5`;
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', drop: true, count: 1 });
    await expect(rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${token}` } })).rejects.toMatchObject({ code: 'ECONNRESET' });
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', latencyMs: 400, count: 1 });
    const started = Date.now();
    const res = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
  });

  it('resets connections, cuts answers off mid-body and sends them under a wrong Content-Type', async () => {
    const token = await bearer(emu);
    const url = `${adminClients.vaultUrl}/secrets/db-password/?api-version=7.5`;
    const get = (): ReturnType<typeof rawRequest> => rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${token}` } });
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', reset: true, count: 1 });
    await expect(get()).rejects.toMatchObject({ code: 'ECONNRESET' });
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', truncate: true, count: 1 });
    await expect(get()).rejects.toMatchObject({ code: 'ECONNRESET' });
    await admin(emu, 'POST', '/faults', { operation: 'getSecret', contentType: 'text/html', count: 1 });
    const relabelled = await get();
    expect(relabelled.status).toBe(200);
    expect(relabelled.headers['content-type']).toBe('text/html');
    expect(relabelled.json).toMatchObject({ value: 'hunter2' });
    expect((await get()).headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('fails token requests of Entra ID and IMDS only with faults naming them; issues tokens of the lifetime set', async () => {
    await admin(emu, 'POST', '/faults', { status: 503, count: 1 });
    expect(await bearer(emu)).not.toBe('');
    await admin(emu, 'DELETE', '/faults');
    await admin(emu, 'POST', '/faults', { operation: 'token', status: 503, retryAfterSeconds: 0, durationSeconds: 30 });
    await expect(bearer(emu)).rejects.toThrow(/AADSTS90033/);
    await admin(emu, 'DELETE', '/faults');
    expect((await admin(emu, 'PUT', '/token-lifetime', { lifetimeSeconds: 60 })).json).toEqual({ lifetimeSeconds: 60 });
    const token = await credentialFor(emu).getToken('https://vault.azure.net/.default');
    expect(token.expiresOnTimestamp - Date.now()).toBeLessThanOrEqual(61_000);
    expect((await admin(emu, 'PUT', '/token-lifetime', { lifetimeSeconds: 0 })).status).toBe(400);
    expect((await admin(emu, 'PUT', '/token-lifetime', { lifetimeSeconds: 3599 })).status).toBe(200);
    await admin(emu, 'POST', '/faults', { operation: 'imdsToken', status: 503, count: 1 });
    const imdsToken = (): Promise<number> => fetch(`${emu.endpoints.imdsEndpoint}/metadata/identity/oauth2/token?resource=https://vault.azure.net`, { headers: { Metadata: 'true' } }).then((r) => r.status);
    expect(await imdsToken()).toBe(503);
    expect(await imdsToken()).toBe(200);
  });

  it('throttles a vault above its requests-per-10-seconds limit with 429 Throttled and Retry-After', async () => {
    const token = await bearer(emu);
    const url = `${emu.endpoints.vaults['second-kv'] ?? ''}/secrets?api-version=7.5`;
    // The config says 3; setting it again starts a fresh window (earlier tests used this vault).
    expect((await admin(emu, 'PUT', '/throttling', { vault: 'second-kv', requestsPer10s: 3 })).status).toBe(200);
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof rawRequest>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await rawRequest(emu, 'GET', url, { headers: { Authorization: `Bearer ${token}` } });
      statuses.push(last.status);
    }
    // The admin principal is Administrator on every vault; the limit is 3 per window.
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(Number(last?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(last?.json).toMatchObject({ error: { code: 'Throttled' } });
    expect((await admin(emu, 'PUT', '/throttling', { vault: 'second-kv', requestsPer10s: 4000 })).status).toBe(200);
  });
});

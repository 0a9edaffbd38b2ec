/**
 * Bad input gets Key Vault's status and error body, never a crash: malformed JSON, oversized values
 * (25 KB), invalid names, unknown routes and vault hosts, bad maxresults; the emulator keeps serving.
 * Also checks that any api-version is accepted, including the percent-encoded `api%2Dversion` key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { bearer, clientsFor, rawRequest, startTestEmulator, type Clients } from './kv-support.ts';

let emu: RunningEmulator;
let c: Clients;
let auth: Record<string, string>;

beforeAll(async () => {
  emu = await startTestEmulator();
  c = clientsFor(emu);
  auth = { Authorization: `Bearer ${await bearer(emu)}` };
});
afterAll(async () => {
  await emu.stop();
});

const errorOf = (json: unknown): { code: string; message: string } => (json as { error: { code: string; message: string } }).error;

describe('bad input', () => {
  it('answers malformed JSON, an empty body and a non-object body with 400 BadParameter', async () => {
    const url = `${c.vaultUrl}/secrets/a?api-version=2026-04-01`;
    const headers = { ...auth, 'Content-Type': 'application/json' };
    for (const body of ['{"value": "x"', '', '[1,2]']) {
      const res = await rawRequest(emu, 'PUT', url, { headers, body });
      expect(res.status).toBe(400);
      expect(errorOf(res.json).code).toBe('BadParameter');
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    }
    const noValue = await rawRequest(emu, 'PUT', url, { headers, body: '{"contentType":"x"}' });
    expect(noValue.status).toBe(400);
  });

  it('refuses a secret above 25 KB with the SDK surfacing 400 BadParameter, and accepts exactly 25 KB', async () => {
    await expect(c.secrets.setSecret('big', 'x'.repeat(25 * 1024 + 1))).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });
    expect((await c.secrets.setSecret('big', 'x'.repeat(25 * 1024))).value).toHaveLength(25 * 1024);
  });

  it('refuses invalid object names with Key Vault\'s message', async () => {
    await expect(c.secrets.setSecret('bad_name', 'x')).rejects.toMatchObject({
      statusCode: 400,
      code: 'BadParameter',
      message: 'The request URI contains an invalid name: bad_name',
    });
    await expect(c.secrets.setSecret('a'.repeat(128), 'x')).rejects.toMatchObject({ statusCode: 400 });
  });

  it('answers unknown routes, unknown vault hosts and bad maxresults with JSON errors', async () => {
    const unknown = await rawRequest(emu, 'GET', `${c.vaultUrl}/nonsense/path?api-version=7.5`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown.json).code).toBe('NotFound');
    // Unknown routes still challenge first.
    expect((await rawRequest(emu, 'GET', `${c.vaultUrl}/nonsense?api-version=7.5`)).status).toBe(401);
    const port = new URL(c.vaultUrl).port;
    const otherVault = await rawRequest(emu, 'GET', `https://localhost:${port}/secrets?api-version=7.5`, { headers: { ...auth, Host: `nosuchvault.vault.azure.net:${port}` } });
    expect(otherVault.status).toBe(404);
    expect(errorOf(otherVault.json).code).toBe('VaultNotFound');
    const tooMany = await rawRequest(emu, 'GET', `${c.vaultUrl}/secrets?api-version=7.5&maxresults=26`, { headers: auth });
    expect(tooMany.status).toBe(400);
    expect(errorOf(tooMany.json).code).toBe('BadParameter');
  });

  it('accepts any api-version, percent-encoded key included, and the trailing-slash latest GET', async () => {
    await c.secrets.setSecret('versioned', 'v');
    for (const q of ['api%2Dversion=2026-04-01', 'api-version=7.0', 'api-version=1999-01-01', '']) {
      const res = await rawRequest(emu, 'GET', `${c.vaultUrl}/secrets/versioned/?${q}`, { headers: auth });
      expect(res.status).toBe(200);
      expect((res.json as { value: string }).value).toBe('v');
    }
  });

  it('keeps serving after all of the above', async () => {
    expect((await c.secrets.getSecret('versioned')).value).toBe('v');
  });
});

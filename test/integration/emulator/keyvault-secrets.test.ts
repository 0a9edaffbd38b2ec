/**
 * Conformance of the emulator's secrets API with the real @azure/keyvault-secrets client (TLS and
 * challenge-resource verification on, ClientSecretCredential from the endpoints' admin principal).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { admin, clientsFor, countOf, requestCounts, startTestEmulator, VAULT, type Clients } from './kv-support.ts';

let emu: RunningEmulator;
let c: Clients;

beforeAll(async () => {
  emu = await startTestEmulator();
  c = clientsFor(emu);
});
afterAll(async () => {
  await emu.stop();
});

describe('secrets', () => {
  it('sets and gets the latest version and a version by id, with ids built from the request host and port', async () => {
    const first = await c.secrets.setSecret('db-password', 'one', { contentType: 'text/plain', tags: { team: 'shop' } });
    const second = await c.secrets.setSecret('db-password', 'two');
    expect(first.properties.vaultUrl).toBe(c.vaultUrl);
    expect(first.properties.id).toBe(`${c.vaultUrl}/secrets/db-password/${first.properties.version}`);
    expect(first.properties.version).toMatch(/^[0-9a-f]{32}$/);
    const latest = await c.secrets.getSecret('db-password');
    expect(latest.value).toBe('two');
    expect(latest.properties.version).toBe(second.properties.version);
    expect(latest.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(latest.properties.createdOn).toBeInstanceOf(Date);
    const old = await c.secrets.getSecret('db-password', { version: first.properties.version ?? '' });
    expect(old.value).toBe('one');
    expect(old.properties.contentType).toBe('text/plain');
    expect(old.properties.tags).toEqual({ team: 'shop' });
  });

  it('updates properties (enabled, nbf, exp, contentType, tags); a disabled secret answers 403 SecretDisabled', async () => {
    const s = await c.secrets.setSecret('rotating', 'v');
    const expiresOn = new Date(Math.floor(Date.now() / 1000 + 3600) * 1000);
    const notBefore = new Date(Math.floor(Date.now() / 1000 - 60) * 1000);
    const updated = await c.secrets.updateSecretProperties('rotating', s.properties.version ?? '', {
      enabled: false,
      expiresOn,
      notBefore,
      contentType: 'application/json',
      tags: { a: 'b' },
    });
    expect(updated.enabled).toBe(false);
    expect(updated.expiresOn?.getTime()).toBe(expiresOn.getTime());
    expect(updated.notBefore?.getTime()).toBe(notBefore.getTime());
    expect(updated.contentType).toBe('application/json');
    expect(updated.tags).toEqual({ a: 'b' });
    await expect(c.secrets.getSecret('rotating')).rejects.toMatchObject({
      statusCode: 403,
      code: 'Forbidden',
      // The SDK maps the wire's `innererror` to `innerError`.
      details: { error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innerError: { code: 'SecretDisabled' } } },
    });
    // Disabled secrets are still listed (metadata).
    const names: string[] = [];
    for await (const p of c.secrets.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toContain('rotating');
  });

  it('lists secrets and versions in pages of at most 25 following absolute nextLinks', async () => {
    for (let i = 0; i < 30; i++) await c.secrets.setSecret(`paged-${String(i).padStart(2, '0')}`, `v${i}`);
    for (let i = 0; i < 27; i++) await c.secrets.setSecret('many-versions', `v${i}`);
    const pages: number[] = [];
    const names: string[] = [];
    for await (const page of c.secrets.listPropertiesOfSecrets().byPage({ maxPageSize: 25 })) {
      pages.push(page.length);
      names.push(...page.map((p) => p.name));
    }
    expect(pages.length).toBeGreaterThan(1);
    expect(Math.max(...pages)).toBeLessThanOrEqual(25);
    expect(names.filter((n) => n.startsWith('paged-'))).toHaveLength(30);
    const versions: string[] = [];
    for await (const p of c.secrets.listPropertiesOfSecretVersions('many-versions')) versions.push(p.version ?? '');
    expect(new Set(versions).size).toBe(27);
    // The wire: items have no value, list ids are versionless, nextLink is absolute with api-version.
    const raw = await rawList();
    expect(raw.nextLink).toMatch(new RegExp(`^${c.vaultUrl.replaceAll('.', '\\.')}/secrets\\?api-version=2026-04-01&\\$skiptoken=[A-Za-z0-9_-]+&maxresults=5$`));
    expect(raw.value[0]).not.toHaveProperty('value');
    expect(raw.value[0]?.id).toMatch(/\/secrets\/[^/]+$/);
  });

  it('soft-deletes, gets the deleted secret, recovers, deletes again and purges', async () => {
    await c.secrets.setSecret('temp', 'x');
    const poller = await c.secrets.beginDeleteSecret('temp', { intervalInMs: 50 });
    const deleted = await poller.pollUntilDone();
    expect(deleted.name).toBe('temp');
    expect(deleted.recoveryId).toBe(`${c.vaultUrl}/deletedsecrets/temp`);
    await expect(c.secrets.getSecret('temp')).rejects.toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    await expect(c.secrets.setSecret('temp', 'y')).rejects.toMatchObject({ statusCode: 409, code: 'Conflict' });
    expect((await c.secrets.getDeletedSecret('temp')).name).toBe('temp');
    await (await c.secrets.beginRecoverDeletedSecret('temp', { intervalInMs: 50 })).pollUntilDone();
    expect((await c.secrets.getSecret('temp')).value).toBe('x');
    await (await c.secrets.beginDeleteSecret('temp', { intervalInMs: 50 })).pollUntilDone();
    await c.secrets.purgeDeletedSecret('temp');
    await expect(c.secrets.getDeletedSecret('temp')).rejects.toMatchObject({ statusCode: 404 });
    await c.secrets.setSecret('temp', 'reused');
  });

  it('answers 404 SecretNotFound with Azure\'s message and counts operations by SDK method name', async () => {
    expect((await admin(emu, 'DELETE', '/requests')).status).toBe(204);
    await c.secrets.setSecret('counted', 'x');
    for await (const p of c.secrets.listPropertiesOfSecretVersions('counted')) void p;
    for await (const p of c.secrets.listPropertiesOfSecrets()) void p;
    await expect(c.secrets.getSecret('does-not-exist')).rejects.toMatchObject({
      statusCode: 404,
      code: 'SecretNotFound',
      message: expect.stringContaining('A secret with (name/id) does-not-exist was not found in this key vault.') as unknown,
    });
    const counts = await requestCounts(emu);
    expect(countOf(counts, 'getSecret', 404)).toBe(1);
    expect(countOf(counts, 'setSecret', 200)).toBeGreaterThan(0);
    expect(countOf(counts, 'listSecrets', 200)).toBeGreaterThan(0);
    expect(countOf(counts, 'listSecretVersions', 200)).toBeGreaterThan(0);
    expect((await admin(emu, 'DELETE', '/requests')).status).toBe(204);
    expect(countOf(await requestCounts(emu), 'getSecret', 404)).toBe(0);
  });
});

async function rawList(): Promise<{ value: Array<Record<string, unknown> & { id?: string }>; nextLink: string | null }> {
  const { rawRequest, bearer } = await import('./kv-support.ts');
  const token = await bearer(emu);
  const res = await rawRequest(emu, 'GET', `${c.vaultUrl}/secrets?api%2Dversion=2026-04-01&maxresults=5`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  void VAULT;
  return res.json as { value: Array<Record<string, unknown> & { id?: string }>; nextLink: string | null };
}

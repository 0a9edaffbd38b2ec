import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock } from '../clock.ts';
import { TokenAuthority } from './authority.ts';
import type { ManagedIdentityConfig } from './contract.ts';
import { createImdsHandler } from './imds.ts';
import type { ImdsTokenResponse } from './imds.ts';
import { objectIdOf } from './principals.ts';
import { RecordingCounter, startServer } from './testing/support.ts';
import type { TestServer } from './testing/support.ts';

const RES_ID = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/second';

describe('IMDS handler (NMI behaviour)', () => {
  const clock = new Clock();
  const counters = new RecordingCounter();
  const first: ManagedIdentityConfig = { name: 'first', clientId: 'aaaaaaaa-1111-1111-1111-111111111111' };
  const second: ManagedIdentityConfig = { name: 'second', clientId: 'bbbbbbbb-2222-2222-2222-222222222222', objectId: 'oooooooo-2222', resourceId: RES_ID };
  let server: TestServer;

  beforeAll(async () => {
    const authority = await TokenAuthority.create({ tenantId: 't', clock, authorityUrl: () => 'https://127.0.0.1:1' });
    server = await startServer([createImdsHandler({ authority, identities: [first, second], counters })]);
  });
  afterAll(() => server.close());

  const get = (query: string, path = '/metadata/identity/oauth2/token', headers: Record<string, string> = { Metadata: 'true' }) =>
    fetch(`${server.url}${path}?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net${query}`, { headers });

  it('answers with NMI/IMDS fields, expires_on as a string, with and without trailing slash', async () => {
    for (const path of ['/metadata/identity/oauth2/token', '/metadata/identity/oauth2/token/', '/METADATA/identity/oauth2/token']) {
      const r = await get('', path);
      expect(r.status).toBe(200);
      const body = (await r.json()) as ImdsTokenResponse;
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'expires_on', 'not_before', 'refresh_token', 'resource', 'token_type']);
      expect(body).toMatchObject({ resource: 'https://vault.azure.net', token_type: 'Bearer', refresh_token: '', expires_in: '3599' });
      expect(Number(body.expires_on) - clock.nowSeconds()).toBeGreaterThan(3590);
      // No selector: the first assigned identity, as NMI does.
      expect(decodeJwt(body.access_token)).toMatchObject({ appid: first.clientId, oid: objectIdOf(first), aud: 'https://vault.azure.net' });
    }
  });

  it.each([
    ['client_id', `&client_id=${second.clientId.toUpperCase()}`],
    ['object_id', '&object_id=oooooooo-2222'],
    ['msi_res_id', `&msi_res_id=${encodeURIComponent(RES_ID)}`],
  ])('selects an identity by %s', async (_k, query) => {
    const r = await get(query);
    expect(r.status).toBe(200);
    const body = (await r.json()) as ImdsTokenResponse;
    expect(decodeJwt(body.access_token)).toMatchObject({ appid: second.clientId, oid: 'oooooooo-2222', xms_mirid: RES_ID });
  });

  it('refuses an identity not assigned to this node the way NMI does (404, text)', async () => {
    const r = await get('&client_id=cccccccc-0000-0000-0000-000000000000');
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await r.text()).toMatch(/^getting assigned identities for pod .* in CREATED state failed/);
    expect(counters.entries).toContainEqual({ vault: '', operation: 'imdsToken', status: 404 });
  });

  it('requires the Metadata header and a resource', async () => {
    const noHeader = await get('', undefined, {});
    expect(noHeader.status).toBe(400);
    expect(await noHeader.json()).toEqual({ error: 'invalid_request', error_description: 'Required metadata header not specified' });
    const noResource = await fetch(`${server.url}/metadata/identity/oauth2/token?api-version=2018-02-01`, { headers: { Metadata: 'true' } });
    expect(noResource.status).toBe(400);
    expect(await noResource.text()).toBe('parameter resource cannot be empty\n');
    const two = await get(`&client_id=${first.clientId}&object_id=x`);
    expect(two.status).toBe(400);
  });

  it('leaves other paths to other handlers', async () => {
    expect((await fetch(`${server.url}/metadata/instance`, { headers: { Metadata: 'true' } })).status).toBe(404);
  });
});

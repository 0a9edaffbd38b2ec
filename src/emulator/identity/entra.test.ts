import { decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock } from '../clock.ts';
import { TokenAuthority } from './authority.ts';
import type { ServicePrincipalConfig } from './contract.ts';
import { createEntraHandler } from './entra.ts';
import { objectIdOf } from './principals.ts';
import { RecordingCounter, TestOidcIssuer, makeTestTls, startServer } from './testing/support.ts';
import type { TestServer } from './testing/support.ts';

const TENANT = 'aaaaaaaa-0000-0000-0000-000000000001';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('Entra ID handler', () => {
  const clock = new Clock();
  const counters = new RecordingCounter();
  let server: TestServer;
  let issuer: TestOidcIssuer;
  let authority: TokenAuthority;
  const sp: ServicePrincipalConfig = { name: 'app', clientId: 'c0000000-0000-0000-0000-00000000000a', secrets: ['s3cret'] };
  const wl: ServicePrincipalConfig = { name: 'workload', clientId: 'c0000000-0000-0000-0000-00000000000b', federatedCredentials: [] };

  beforeAll(async () => {
    const tls = makeTestTls();
    issuer = await TestOidcIssuer.start(tls);
    wl.federatedCredentials = [{ issuer: issuer.issuer, subject: 'system:serviceaccount:shop:web' }];
    authority = await TokenAuthority.create({ tenantId: TENANT, clock, authorityUrl: () => server.url });
    server = await startServer([
      createEntraHandler({ tenantId: TENANT, authority, servicePrincipals: [sp, wl], managedIdentities: [{ name: 'mi', clientId: 'm1' }],
        clock, counters, trustedIssuerCaPems: [tls.caPem] }),
    ]);
  });
  afterAll(async () => {
    await server.close();
    await issuer.close();
  });

  const token = (form: Record<string, string>, tenant = TENANT) =>
    fetch(`${server.url}/${tenant}/oauth2/v2.0/token`, { method: 'POST', body: new URLSearchParams(form) });
  const secretForm = (over: Record<string, string> = {}) => ({
    grant_type: 'client_credentials', client_id: sp.clientId, client_secret: 's3cret', scope: 'https://vault.azure.net/.default', ...over,
  });

  it('serves OIDC discovery naming the host the client used, and the JWKS', async () => {
    const doc = (await (await fetch(`${server.url}/${TENANT}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(doc.issuer).toBe(`${server.url}/${TENANT}/v2.0`);
    expect(doc.token_endpoint).toBe(`${server.url}/${TENANT}/oauth2/v2.0/token`);
    expect(doc.authorization_endpoint).toBe(`${server.url}/${TENANT}/oauth2/v2.0/authorize`);
    const keys = (await (await fetch(doc.jwks_uri ?? '')).json()) as { keys: unknown[] };
    expect(keys).toEqual(authority.jwks());
    const viaLocalhost = (await (await fetch(`${server.url.replace('127.0.0.1', 'localhost')}/${TENANT}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(viaLocalhost.issuer).toBe(`${server.url.replace('127.0.0.1', 'localhost')}/${TENANT}/v2.0`);
    const unknownTenant = await fetch(`${server.url}/nope/v2.0/.well-known/openid-configuration`);
    expect(unknownTenant.status).toBe(400);
    expect(await unknownTenant.json()).toMatchObject({ error: 'invalid_tenant' });
  });

  it('answers instance discovery with its own host as the alias', async () => {
    const r = await fetch(`${server.url}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(`${server.url}/${TENANT}/oauth2/v2.0/authorize`)}`);
    const body = (await r.json()) as { tenant_discovery_endpoint: string; metadata: { aliases: string[] }[] };
    expect(body.tenant_discovery_endpoint).toBe(`${server.url}/${TENANT}/v2.0/.well-known/openid-configuration`);
    expect(body.metadata[0]?.aliases).toEqual([new URL(server.url).host]);
  });

  it('issues a token for a client secret, accepting CAE claims', async () => {
    const r = await token(secretForm({ claims: JSON.stringify({ access_token: { xms_cc: { values: ['cp1'] } } }) }));
    expect(r.status).toBe(200);
    const body = (await r.json()) as { token_type: string; expires_in: number; access_token: string };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBeGreaterThan(3500);
    expect(decodeJwt(body.access_token)).toMatchObject({ aud: 'https://vault.azure.net', oid: objectIdOf(sp), appid: sp.clientId, tid: TENANT });
    expect((await authority.verifyAccessToken(body.access_token)).ok).toBe(true);
    expect(counters.entries).toContainEqual({ vault: '', operation: 'token', status: 200 });
  });

  it('accepts client_secret_basic', async () => {
    const r = await fetch(`${server.url}/${TENANT}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`${sp.clientId}:s3cret`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'https://vault.azure.net/.default' }),
    });
    expect(r.status).toBe(200);
  });

  it.each([
    ['wrong secret', secretForm({ client_secret: 'nope' }), 401, 'invalid_client', 7000215],
    ['unknown client', secretForm({ client_id: 'dddddddd-0000-0000-0000-000000000000' }), 400, 'unauthorized_client', 700016],
    ['managed identity as client', secretForm({ client_id: 'm1' }), 400, 'unauthorized_client', 700016],
    ['no credential', secretForm({ client_secret: '' }), 401, 'invalid_client', 7000218],
    ['scope without /.default', secretForm({ scope: 'https://vault.azure.net' }), 400, 'invalid_scope', 1002012],
    ['missing scope', secretForm({ scope: '' }), 400, 'invalid_request', 900144],
    ['other grant', secretForm({ grant_type: 'password' }), 400, 'unsupported_grant_type', 70003],
  ])('refuses %s like Entra', async (_name, form, status, error, code) => {
    const r = await token(form);
    expect(r.status).toBe(status);
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ error, error_codes: [code] });
    expect(String(body.error_description)).toMatch(new RegExp(`^AADSTS${code}: .*\\r\\nTrace ID: .*\\r\\nCorrelation ID: .*\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`, 's'));
    expect(body.error_uri).toBe(`${server.url}/error?code=${code}`);
    expect(JSON.stringify(body)).not.toContain('s3cret');
    expect(counters.entries).toContainEqual({ vault: '', operation: 'token', status });
  });

  it('refuses an unknown tenant with AADSTS90002', async () => {
    const r = await token(secretForm(), 'bbbbbbbb-0000-0000-0000-000000000000');
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: 'invalid_request', error_codes: [90002] });
  });

  describe('federated credentials', () => {
    const assertionForm = (assertion: string) => ({
      grant_type: 'client_credentials', client_id: wl.clientId, scope: 'https://vault.azure.net/.default',
      client_assertion_type: JWT_BEARER, client_assertion: assertion,
    });

    it('exchanges a matching assertion verified against the issuer JWKS, and caches the keys', async () => {
      const before = issuer.fetches;
      for (let i = 0; i < 2; i++) {
        const r = await token(assertionForm(await issuer.sign({ sub: 'system:serviceaccount:shop:web' })));
        expect(r.status).toBe(200);
        const body = (await r.json()) as { access_token: string };
        expect(decodeJwt(body.access_token)).toMatchObject({ appid: wl.clientId, appidacr: '2', oid: objectIdOf(wl) });
      }
      expect(issuer.fetches - before).toBe(2); // discovery + JWKS once
    });

    it.each([
      ['other issuer', { sub: 'system:serviceaccount:shop:web', iss: 'https://elsewhere.example' }, 401, 700211],
      ['other subject', { sub: 'system:serviceaccount:shop:other' }, 401, 700213],
      ['other audience', { sub: 'system:serviceaccount:shop:web', aud: 'api://other' }, 401, 700212],
      ['expired', { sub: 'system:serviceaccount:shop:web', iat: 1000, nbf: 1000, exp: Math.floor(Date.now() / 1000) - 3600 }, 401, 700024],
    ])('refuses an assertion with %s', async (_name, claims, status, code) => {
      const r = await token(assertionForm(await issuer.sign(claims)));
      expect(r.status).toBe(status);
      expect(await r.json()).toMatchObject({ error: 'invalid_client', error_codes: [code] });
    });

    it('refuses a forged signature, an unknown key id, garbage and a wrong assertion type', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const forged = await issuer.sign({ sub: 'system:serviceaccount:shop:web' }, { key: privateKey });
      let r = await token(assertionForm(forged));
      expect(await r.json()).toMatchObject({ error_codes: [700027] });
      r = await token(assertionForm(await issuer.sign({ sub: 'system:serviceaccount:shop:web' }, { kid: 'unknown-kid', key: privateKey })));
      expect(await r.json()).toMatchObject({ error_codes: [7000272] });
      r = await token(assertionForm('garbage'));
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error_codes: [50027] });
      r = await token({ ...assertionForm('x.y.z'), client_assertion_type: 'saml' });
      expect(r.status).toBe(400);
    });

    it('answers AADSTS90061 when the issuer metadata cannot be fetched (untrusted TLS)', async () => {
      const untrusted = await TestOidcIssuer.start(makeTestTls());
      try {
        const app: ServicePrincipalConfig = { name: 'x', clientId: 'x1', federatedCredentials: [{ issuer: untrusted.issuer, subject: 's' }] };
        const logged: string[] = [];
        const handler = createEntraHandler({ tenantId: TENANT, authority, servicePrincipals: [app], managedIdentities: [], clock, counters, trustedIssuerCaPems: [], log: (l) => logged.push(l) });
        const srv = await startServer([handler]);
        try {
          const r = await fetch(`${srv.url}/${TENANT}/oauth2/v2.0/token`, {
            method: 'POST',
            body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'x1', scope: 'https://vault.azure.net/.default',
              client_assertion_type: JWT_BEARER, client_assertion: await untrusted.sign({ sub: 's' }) }),
          });
          expect(r.status).toBe(400);
          expect(await r.json()).toMatchObject({ error: 'invalid_request', error_codes: [90061] });
          expect(logged.join('\n')).toMatch(/federated issuer metadata unavailable: .*openid-configuration/);
        } finally {
          await srv.close();
        }
      } finally {
        await untrusted.close();
      }
    });
  });

  it('does not claim unknown paths and refuses GET on the token endpoint', async () => {
    expect((await fetch(`${server.url}/something/else`)).status).toBe(404);
    expect((await fetch(`${server.url}/${TENANT}/oauth2/v2.0/token`)).status).toBe(405);
  });
});

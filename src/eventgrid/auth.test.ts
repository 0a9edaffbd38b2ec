import { mkdtemp, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestTls, startServer, type TestServer } from '../emulator/identity/testing/support.ts';
import { AnyOfAuthenticator, EntraTokenAuthenticator, SharedKeyAuthenticator, constantTimeEquals } from './auth.ts';
import { EventGridConfigError } from './errors.ts';

const KEY = 'a-shared-key-of-32-characters-xx';
const none = { sasKey: undefined, queryCode: undefined, authorization: undefined };

describe('constantTimeEquals', () => {
  it('compares whole strings of any length', () => {
    expect(constantTimeEquals('abc', 'abc')).toBe(true);
    expect(constantTimeEquals('abc', 'abd')).toBe(false);
    expect(constantTimeEquals('abc', 'abcd')).toBe(false);
    expect(constantTimeEquals('', '')).toBe(true);
  });
});

describe('SharedKeyAuthenticator', () => {
  async function keyFile(content: string): Promise<string> {
    const f = join(await mkdtemp(join(tmpdir(), 'kvsync-egkey-')), 'key');
    await writeFile(f, content);
    return f;
  }

  it('accepts the key as aeg-sas-key header or code parameter, and nothing else', async () => {
    const a = new SharedKeyAuthenticator({ keyFile: await keyFile(`${KEY}\n`) });
    await a.load();
    expect(await a.authenticate({ ...none, sasKey: KEY })).toEqual({ ok: true, method: 'sharedKey' });
    expect(await a.authenticate({ ...none, queryCode: KEY })).toEqual({ ok: true, method: 'sharedKey' });
    expect(await a.authenticate({ ...none, sasKey: 'wrong', queryCode: KEY })).toEqual({ ok: true, method: 'sharedKey' });
    expect(await a.authenticate({ ...none, sasKey: `${KEY}x` })).toEqual({ ok: false, why: 'shared key mismatch' });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${KEY}` })).toMatchObject({ ok: false });
  });

  it('refuses a short or missing key file at load', async () => {
    await expect(new SharedKeyAuthenticator({ keyFile: await keyFile('short') }).load()).rejects.toBeInstanceOf(EventGridConfigError);
    await expect(new SharedKeyAuthenticator({ keyFile: '/nonexistent/key' }).load()).rejects.toThrow(/ENOENT/);
  });

  it('picks up a rotated key after the reload interval', async () => {
    let now = 0;
    const f = await keyFile(KEY);
    const a = new SharedKeyAuthenticator({ keyFile: f, reloadMs: 1000, now: () => now });
    await a.load();
    const rotated = 'the-rotated-shared-key-0123456789';
    await writeFile(f, rotated);
    expect((await a.authenticate({ ...none, sasKey: rotated })).ok).toBe(false);
    now = 1000;
    expect((await a.authenticate({ ...none, sasKey: rotated })).ok).toBe(true);
    expect((await a.authenticate({ ...none, sasKey: KEY })).ok).toBe(false);
  });
});

describe('EntraTokenAuthenticator', () => {
  const tenant = '11111111-2222-3333-4444-555555555555';
  const audience = 'api://kvsync-eventgrid';
  let server: TestServer;
  let agent: https.Agent;
  let key: CryptoKey;
  let kid: string;
  let other: CryptoKey;
  let v2Issuer: string;

  beforeAll(async () => {
    const tls = makeTestTls();
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    other = (await generateKeyPair('RS256')).privateKey;
    const jwk = await exportJWK(pair.publicKey);
    kid = await calculateJwkThumbprint(jwk);
    server = await startServer([
      (_req, res, url) => {
        const origin = `https://${url.host}`;
        const docs: Record<string, unknown> = {
          [`/${tenant}/v2.0/.well-known/openid-configuration`]: { issuer: `${origin}/${tenant}/v2.0`, jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys` },
          [`/${tenant}/.well-known/openid-configuration`]: { issuer: `https://sts.windows.net/${tenant}/`, jwks_uri: `${origin}/${tenant}/discovery/keys` },
          [`/${tenant}/discovery/v2.0/keys`]: { keys: [{ ...jwk, kid, use: 'sig' }] },
        };
        const doc = docs[url.pathname];
        if (doc === undefined) return Promise.resolve(false);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
        return Promise.resolve(true);
      },
    ], tls);
    agent = new https.Agent({ ca: tls.caPem });
    v2Issuer = `${server.url}/${tenant}/v2.0`;
  });
  afterAll(async () => {
    await server.close();
  });

  const sign = (claims: JWTPayload, signWith?: CryptoKey): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: `https://sts.windows.net/${tenant}/`, aud: audience, tid: tenant, appid: 'eventgrid-app', iat: now, nbf: now, exp: now + 3600, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid })
      .sign(signWith ?? key);
  };
  const make = (extra: { allowedClientIds?: string[] } = {}) => new EntraTokenAuthenticator({ authorityHost: server.url, tenantId: tenant, audiences: [audience], agent, allowedClientIds: ['eventgrid-app'], ...extra });

  it('accepts v1 and v2 tokens for the audience from the tenant', async () => {
    const a = make();
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({})}` })).toEqual({ ok: true, method: 'entraToken' });
    expect(await a.authenticate({ ...none, authorization: `bearer ${await sign({ iss: v2Issuer, ver: '2.0' })}` })).toEqual({ ok: true, method: 'entraToken' });
  });

  it('rejects a wrong audience, issuer, tenant, signature, expiry or missing token', async () => {
    const a = make();
    const now = Math.floor(Date.now() / 1000);
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({ aud: 'https://vault.azure.net' })}` })).toEqual({ ok: false, why: 'token claim "aud" rejected' });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({ iss: 'https://sts.windows.net/other/' })}` })).toEqual({ ok: false, why: 'token claim "iss" rejected' });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({ tid: 'other' })}` })).toEqual({ ok: false, why: 'token from another tenant' });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({}, other)}` })).toEqual({ ok: false, why: 'token signature invalid' });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({ iat: now - 7200, nbf: now - 7200, exp: now - 600 })}` })).toEqual({ ok: false, why: 'token expired' });
    expect(await a.authenticate({ ...none, sasKey: 'x' })).toEqual({ ok: false, why: 'no bearer token' });
    expect(await a.authenticate({ ...none, authorization: 'Bearer not-a-jwt' })).toMatchObject({ ok: false });
  });

  it('accepts only the listed applications, and needs a list', async () => {
    const a = make();
    expect((await a.authenticate({ ...none, authorization: `Bearer ${await sign({})}` })).ok).toBe(true);
    expect((await a.authenticate({ ...none, authorization: `Bearer ${await sign({ appid: undefined, azp: 'eventgrid-app' })}` })).ok).toBe(true);
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({ appid: 'someone-else' })}` })).toEqual({ ok: false, why: 'token of an application that is not allowed' });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({ appid: undefined })}` })).toEqual({ ok: false, why: 'token of an application that is not allowed' });
    expect(() => make({ allowedClientIds: [] })).toThrow(EventGridConfigError);
  });

  it('reports an unreachable authority as a failed check, not a crash', async () => {
    const a = new EntraTokenAuthenticator({ authorityHost: 'https://127.0.0.1:1', tenantId: tenant, audiences: [audience], agent, allowedClientIds: ['eventgrid-app'] });
    expect(await a.authenticate({ ...none, authorization: `Bearer ${await sign({})}` })).toEqual({ ok: false, why: 'the authority metadata could not be fetched' });
  });
});

describe('AnyOfAuthenticator', () => {
  it('needs at least one method and accepts what any accepts', async () => {
    expect(() => new AnyOfAuthenticator([])).toThrow(EventGridConfigError);
    const yes = { authenticate: () => Promise.resolve({ ok: true as const, method: 'sharedKey' as const }) };
    const no = { authenticate: () => Promise.resolve({ ok: false as const, why: 'no' }) };
    expect(await new AnyOfAuthenticator([no, yes]).authenticate(none)).toEqual({ ok: true, method: 'sharedKey' });
    expect(await new AnyOfAuthenticator([no, no]).authenticate(none)).toEqual({ ok: false, why: 'no; no' });
  });
});

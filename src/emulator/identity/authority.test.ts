import { SignJWT, generateKeyPair, decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { Clock } from '../clock.ts';
import { TokenAuthority } from './authority.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';

describe('TokenAuthority', () => {
  let clock: Clock;
  let authority: TokenAuthority;
  beforeAll(async () => {
    clock = new Clock();
    authority = await TokenAuthority.create({ tenantId: TENANT, clock, authorityUrl: () => 'https://127.0.0.1:8443/' });
  });

  it('issues a v1-style Key Vault token that it verifies', async () => {
    clock.reset();
    const issued = await authority.issueAccessToken({ objectId: 'oid-1', clientId: 'app-1', audience: 'https://vault.azure.net' });
    const claims = decodeJwt(issued.accessToken);
    expect(claims).toMatchObject({
      aud: 'https://vault.azure.net', iss: `https://sts.windows.net/${TENANT}/`, tid: TENANT, oid: 'oid-1', sub: 'oid-1',
      appid: 'app-1', azp: 'app-1', appidacr: '1', ver: '1.0',
    });
    expect(claims.exp).toBe(issued.expiresOn);
    expect(issued.expiresOn - clock.nowSeconds()).toBeGreaterThanOrEqual(3598);
    expect(claims.nbf).toBeLessThan(clock.nowSeconds());
    const v = await authority.verifyAccessToken(`Bearer ${issued.accessToken}`);
    expect(v).toEqual({ ok: true, token: { objectId: 'oid-1', clientId: 'app-1', tenantId: TENANT, audience: 'https://vault.azure.net', expiresOn: issued.expiresOn } });
    expect(authority.authorityUrl()).toBe('https://127.0.0.1:8443');
    expect(authority.jwks().keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(authority.jwks().keys[0]).not.toHaveProperty('d');
  });

  it('accepts the audience with a trailing slash', async () => {
    const issued = await authority.issueAccessToken({ objectId: 'o', clientId: 'c', audience: 'https://vault.azure.net/' });
    const v = await authority.verifyAccessToken(issued.accessToken);
    expect(v.ok).toBe(true);
  });

  it('rejects wrong audience, expired, not-yet-valid, foreign signature and garbage', async () => {
    clock.reset();
    const wrongAud = await authority.issueAccessToken({ objectId: 'o', clientId: 'c', audience: 'https://management.azure.com' });
    expect(await authority.verifyAccessToken(wrongAud.accessToken)).toMatchObject({ ok: false, rejection: { reason: 'wrong-audience' } });

    const shortLived = await authority.issueAccessToken({ objectId: 'o', clientId: 'c', audience: 'https://vault.azure.net', lifetimeSeconds: 60 });
    clock.shift(61_000);
    expect(await authority.verifyAccessToken(shortLived.accessToken)).toMatchObject({ ok: false, rejection: { reason: 'expired' } });
    clock.reset();

    clock.shift(3_600_000);
    const future = await authority.issueAccessToken({ objectId: 'o', clientId: 'c', audience: 'https://vault.azure.net' });
    clock.reset();
    expect(await authority.verifyAccessToken(future.accessToken)).toMatchObject({ ok: false, rejection: { reason: 'not-yet-valid' } });

    const { privateKey } = await generateKeyPair('RS256');
    const now = clock.nowSeconds();
    const forged = await new SignJWT({ aud: 'https://vault.azure.net', iss: authority.issuer, tid: TENANT, oid: 'o', appid: 'c', nbf: now - 10, exp: now + 600 })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(privateKey);
    expect(await authority.verifyAccessToken(forged)).toMatchObject({ ok: false, rejection: { reason: 'bad-signature' } });
    expect(await authority.verifyAccessToken('not-a-token')).toMatchObject({ ok: false, rejection: { reason: 'malformed' } });
    expect(await authority.verifyAccessToken('a.b.c')).toMatchObject({ ok: false, rejection: { reason: 'malformed' } });
  });

  it('rejects a token signed by another run of the emulator (another key), even for the same tenant', async () => {
    const otherRun = await TokenAuthority.create({ tenantId: TENANT, clock, authorityUrl: () => 'https://x' });
    const t = await otherRun.issueAccessToken({ objectId: 'o', clientId: 'c', audience: 'https://vault.azure.net' });
    expect((await otherRun.verifyAccessToken(t.accessToken)).ok).toBe(true);
    expect(await authority.verifyAccessToken(t.accessToken)).toMatchObject({ ok: false, rejection: { reason: 'bad-signature' } });
  });
});

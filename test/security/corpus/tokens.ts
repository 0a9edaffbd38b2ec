/** Hostile Event Grid bearer tokens: input builds the Authorization header value from the context. */
import type { CorpusCase, CorpusContext } from './types.ts';

const now = (): number => Math.floor(Date.now() / 1000);
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

export const cases: CorpusCase[] = [
  { name: 'alg none', kind: 'token', input: (c: CorpusContext) => Promise.resolve(`Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: c.audience, iss: c.issuer, tid: c.tenantId, appid: 'x', exp: now() + 600 })}.`), reason: 'token rejected (ERR_JOSE_ALG_NOT_ALLOWED)' },
  { name: 'signed with a key that is not the tenant\'s', kind: 'token', input: async (c: CorpusContext) => `Bearer ${await c.forged({ aud: c.audience, iss: c.issuer, tid: c.tenantId, exp: now() + 600 })}`, reason: 'token signature invalid' },
  { name: 'valid signature, payload edited (audience swapped)', kind: 'token', input: async (c: CorpusContext) => {
    const [h, p, s] = (await c.validToken()).split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return `Bearer ${h ?? ''}.${b64({ ...payload, aud: 'https://vault.azure.net' })}.${s ?? ''}`;
  }, reason: 'token signature invalid' },
  { name: 'garbage', kind: 'token', input: 'Bearer !!!.???.***', reason: 'no bearer token' },
  { name: 'a 200 KB token', kind: 'token', input: `Bearer ${'A'.repeat(200_000)}.${'B'.repeat(10)}.${'C'.repeat(10)}`, reason: 'token rejected (ERR_JWS_INVALID)' },
  { name: 'Basic instead of Bearer', kind: 'token', input: `Basic ${Buffer.from('user:pass').toString('base64')}`, reason: 'no bearer token' },
  { name: 'HS256 with an unknown kid (algorithm confusion)', kind: 'token', input: (c: CorpusContext) => Promise.resolve(`Bearer ${b64({ alg: 'HS256', kid: 'nope' })}.${b64({ aud: c.audience, iss: c.issuer, tid: c.tenantId, exp: now() + 600 })}.AAAA`), reason: 'token rejected (ERR_JOSE_ALG_NOT_ALLOWED)' },
];

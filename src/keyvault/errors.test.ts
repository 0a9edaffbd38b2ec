import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { PkiError } from '../pki/errors.ts';
import { retryAfterMsOf, SyncError, toSyncError } from './errors.ts';

/** An error shaped like @azure/core-rest-pipeline's RestError (what the Key Vault clients throw). */
function restError(statusCode: number | undefined, code: string, inner?: string, headers: Record<string, string> = {}): Error {
  const err = Object.assign(new Error(`server says ${code}`), {
    statusCode,
    code,
    details: inner === undefined ? undefined : { error: { code, message: 'm', innerError: { code: inner } } },
    response: { headers: { get: (n: string) => headers[n.toLowerCase()] } },
  });
  err.name = 'RestError';
  return err;
}

const site = { vault: 'gebakv', object: 'secret "db-password"', objectName: 'db-password' };

describe('toSyncError', () => {
  it.each([
    [restError(403, 'Forbidden', 'ForbiddenByRbac'), 'VaultAccessDenied'],
    [restError(403, 'Forbidden', 'AccessDenied'), 'VaultAccessDenied'],
    [restError(403, 'Forbidden', 'SecretDisabled'), 'ObjectDisabled'],
    [restError(404, 'SecretNotFound'), 'ObjectNotFound'],
    [restError(401, 'Unauthorized'), 'AuthenticationFailed'],
    [restError(429, 'Throttled'), 'Throttled'],
    [restError(undefined, 'ECONNREFUSED'), 'VaultUnreachable'],
    [restError(503, 'ServiceUnavailable'), 'VaultUnreachable'],
    [new CredentialUnavailableError('no token file'), 'AuthenticationFailed'],
    [new AuthenticationError(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' }), 'AuthenticationFailed'],
    [new PkiError('KeyMismatch', 'the key matches no certificate'), 'KeyMismatch'],
    [new PkiError('InvalidCertificate', 'no certificate'), 'InvalidCertificate'],
    [Object.assign(new Error('connect'), { code: 'ENOTFOUND' }), 'VaultUnreachable'],
  ] as const)('%s → %s, naming vault and object', (err, reason) => {
    const mapped = toSyncError(err, site);
    expect(mapped).toBeInstanceOf(SyncError);
    expect(mapped.reason).toBe(reason);
    expect(mapped.object).toBe('db-password');
    expect(mapped.message).toContain('vault "gebakv"');
    expect(mapped.message).toContain('secret "db-password"');
    expect(mapped.cause).toBeUndefined();
  });

  it('never repeats what a service said: only our sentence, the status and codes that look like codes', () => {
    const marker = 'MARKER-hunter2';
    const aadsts = new AuthenticationError(400, {
      error: 'unauthorized_client',
      error_description: `AADSTS700016: Application with identifier '${marker}' was not found in the directory 'x'.`,
      error_codes: [700016],
    });
    const fromMsal = Object.assign(new Error(`unauthorized_client: AADSTS700016: Application with identifier '${marker}' was not found`), { name: 'AuthenticationRequiredError', cause: { errorNo: '700016', errorCode: 'unauthorized_client' } });
    const hostileCode = restError(403, `${marker} <script>`, 'ForbiddenByRbac');
    hostileCode.message = `Caller ${marker} is not authorized`;
    const plain = Object.assign(new Error(`cannot parse ${marker}`), { code: 'EWHATEVER' });
    const cases: [Error, string, string][] = [
      [aadsts, 'AuthenticationFailed', 'Entra ID refused the token request (AADSTS700016)'],
      [fromMsal, 'AuthenticationFailed', 'Entra ID refused the token request (AADSTS700016)'],
      [hostileCode, 'VaultAccessDenied', 'access denied (HTTP 403 ForbiddenByRbac)'],
      [Object.assign(restError(503, 'ServiceUnavailable'), { message: marker }), 'VaultUnreachable', 'the vault answered HTTP 503 ServiceUnavailable'],
      [restError(302, 'Found'), 'InvalidResponse', 'redirect'],
      [Object.assign(restError(undefined, 'PARSE_ERROR'), { message: `Error reading response as text: ${marker}` }), 'InvalidResponse', 'could not be read (PARSE_ERROR)'],
      [plain, 'VaultUnreachable', 'unexpected failure (Error, EWHATEVER)'],
      [new CredentialUnavailableError(`network error talking to ${marker}`), 'AuthenticationFailed', 'no token from Entra ID (CredentialUnavailableError)'],
    ];
    for (const [err, reason, text] of cases) {
      const mapped = toSyncError(err, site);
      expect(mapped.reason).toBe(reason);
      expect(mapped.message).toContain(text);
      expect(mapped.message).not.toContain('MARKER');
      expect(mapped.message).not.toContain('hunter2');
    }
  });

  it('keeps Retry-After of a 429', () => {
    expect(toSyncError(restError(429, 'Throttled', undefined, { 'retry-after': '7' }), site).retryAfterMs).toBe(7000);
  });

  it('passes a SyncError through and flags optional copies', () => {
    const e = new SyncError('ObjectNotFound', 'x', { object: 'o' });
    expect(toSyncError(e, site)).toBe(e);
    expect(e.asOptional()).toMatchObject({ reason: 'ObjectNotFound', object: 'o', optional: true });
  });
});

describe('retryAfterMsOf', () => {
  const h = (m: Record<string, string>) => ({ get: (n: string) => m[n] });
  it('reads retry-after-ms, seconds and HTTP dates', () => {
    expect(retryAfterMsOf(h({ 'retry-after-ms': '250' }))).toBe(250);
    expect(retryAfterMsOf(h({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterMsOf(h({ 'retry-after': new Date(10_000).toUTCString() }), 4000)).toBe(6000);
    expect(retryAfterMsOf(h({}))).toBeUndefined();
  });
});

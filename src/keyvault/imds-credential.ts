/**
 * A small IMDS token credential for podIdentity / managedIdentity (aad-pod-identity's NMI or the VM's
 * IMDS): `GET {host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…&client_id=…` with
 * `Metadata: true`.
 *
 * Why not @azure/identity's ManagedIdentityCredential: it reads the IMDS host only from
 * `process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST` (so `--azure-endpoints` could not point it anywhere
 * without mutating the process environment), it silently switches to workload identity when
 * AZURE_FEDERATED_TOKEN_FILE is set, and MSAL keeps managed-identity tokens in a static per-process
 * cache. An operator serving many identities needs one credential per identity with its own cache.
 *
 * Tokens are cached per resource and refreshed when less than 5 minutes (or half the lifetime, if
 * shorter) remain, counted from `expires_in` on the local clock (`expires_on` only without it), so a
 * clock that differs from Azure's neither keeps a token past its end nor refuses a fresh one. A token without a lifetime in the future is refused (using it would ask IMDS again
 * on every request), and a lifetime over 24 hours (IMDS issues at most that) is cut to 24 hours.
 * Errors are SyncError AuthenticationFailed in kvsync's words with the HTTP status and IMDS's error
 * code only: never the token, never IMDS's text (it can repeat the client ID it was sent), and no body
 * over {@link MAX_AZURE_RESPONSE_BYTES} is read.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { SyncError, safeCode } from './errors.ts';
import { MAX_AZURE_RESPONSE_BYTES } from './response-limit.ts';
import { durationText, withDeadline } from '../util/deadline.ts';

export interface ImdsCredentialOptions {
  /** IMDS base URL without trailing slash, e.g. `http://169.254.169.254`. */
  host: string;
  /** The user-assigned identity's client ID. */
  clientId: string | undefined;
  /** Or its ARM resource ID (used only without clientId). */
  resourceId?: string;
  /** Deadline of each request (connect, headers and body together); default 10 s. */
  timeoutMs?: number;
  /** Attempts for 404/410/429/5xx and network errors (NMI answers 404 while it assigns the identity); default 3. */
  attempts?: number;
}

interface CachedToken {
  token: AccessToken;
  refreshAt: number;
}

const REFRESH_MARGIN_MS = 5 * 60_000;
/** The longest lifetime IMDS gives a token; a longer one claimed is cut to it. */
const MAX_LIFETIME_MS = 24 * 60 * 60_000;

export class ImdsCredential implements TokenCredential {
  readonly #opts: ImdsCredentialOptions;
  readonly #cache = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<AccessToken>>();

  constructor(opts: ImdsCredentialOptions) {
    this.#opts = opts;
  }

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    if (scope === undefined) throw new SyncError('AuthenticationFailed', 'IMDS: no scope given');
    const resource = scope.replace(/\/\.default$/, '');
    const cached = this.#cache.get(resource);
    if (cached !== undefined && Date.now() < cached.refreshAt) return cached.token;
    let pending = this.#inflight.get(resource);
    if (pending === undefined) {
      pending = this.#fetch(resource).finally(() => this.#inflight.delete(resource));
      this.#inflight.set(resource, pending);
    }
    return pending;
  }

  async #fetch(resource: string): Promise<AccessToken> {
    const url = new URL(`${this.#opts.host}/metadata/identity/oauth2/token`);
    url.searchParams.set('api-version', '2018-02-01');
    url.searchParams.set('resource', resource);
    if (this.#opts.clientId !== undefined) url.searchParams.set('client_id', this.#opts.clientId);
    else if (this.#opts.resourceId !== undefined) url.searchParams.set('msi_res_id', this.#opts.resourceId);
    const attempts = this.#opts.attempts ?? 3;
    let last = '';
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** i));
      let res: { status: number; body: string };
      try {
        res = await get(url, this.#opts.timeoutMs ?? 10_000);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERESPONSETOOLARGE') throw new SyncError('AuthenticationFailed', `IMDS at ${url.origin} answered with more than ${MAX_AZURE_RESPONSE_BYTES} bytes`);
        last = `IMDS at ${url.origin} unreachable (${safeCode((err as NodeJS.ErrnoException).code) ?? (err instanceof Error ? err.name : 'error')})`;
        continue;
      }
      if (res.status === 200) return this.#accept(resource, res.body);
      last = `IMDS at ${url.origin} refused the token request (HTTP ${res.status}${errorCode(res.body)})`;
      if (!(res.status === 404 || res.status === 410 || res.status === 429 || res.status >= 500)) break;
    }
    throw new SyncError('AuthenticationFailed', last);
  }

  #accept(resource: string, body: string): AccessToken {
    const refuse = (what: string): SyncError => new SyncError('AuthenticationFailed', `IMDS at ${new URL(this.#opts.host).origin} answered 200 ${what}`);
    let doc: { access_token?: unknown; expires_on?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body) as typeof doc;
    } catch {
      throw refuse('with a body that is not JSON');
    }
    if (typeof doc !== 'object' || doc === null || typeof doc.access_token !== 'string' || doc.access_token === '') throw refuse('without access_token');
    const now = Date.now();
    const expiresOn = Number(doc.expires_on);
    const expiresIn = Number(doc.expires_in);
    // The lifetime (expires_in) first: expires_on is a time on IMDS's clock, and a node whose clock is
    // minutes off would keep a token past its end (or refuse a good one).
    const claimed = doc.expires_in !== undefined && Number.isFinite(expiresIn) ? now + expiresIn * 1000 : Number.isFinite(expiresOn) && expiresOn > 0 ? expiresOn * 1000 : Number.NaN;
    if (!(claimed > now)) throw refuse('with a token without a lifetime in the future (expires_on / expires_in)');
    const expiresOnTimestamp = Math.min(claimed, now + MAX_LIFETIME_MS);
    const lifetime = expiresOnTimestamp - now;
    const token: AccessToken = { token: doc.access_token, expiresOnTimestamp, tokenType: 'Bearer', refreshAfterTimestamp: now + Math.max(0, lifetime - Math.min(REFRESH_MARGIN_MS, lifetime / 2)) };
    this.#cache.set(resource, { token, refreshAt: token.refreshAfterTimestamp ?? expiresOnTimestamp });
    return token;
  }
}

/** `, <error>` of an IMDS error answer when its JSON `error` field is a code; IMDS's text is never repeated. */
function errorCode(body: string): string {
  try {
    const code = safeCode((JSON.parse(body) as { error?: unknown } | null)?.error);
    return code === undefined ? '' : `, ${code}`;
  } catch {
    return '';
  }
}

/** One GET, ended at `timeoutMs` whatever phase it is in (a body trickled a byte a second included). */
function get(url: URL, timeoutMs: number): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return withDeadline(
    timeoutMs,
    undefined,
    ({ signal }) =>
      new Promise((resolve, reject) => {
        const req = request(url, { method: 'GET', headers: { Metadata: 'true' }, signal }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_AZURE_RESPONSE_BYTES) req.destroy(Object.assign(new Error('response too large'), { code: 'ERESPONSETOOLARGE' }));
            else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }),
    () => Object.assign(new Error(`no answer within ${durationText(timeoutMs)}`), { code: 'ETIMEDOUT' }),
  );
}

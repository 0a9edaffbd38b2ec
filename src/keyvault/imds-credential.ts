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
 * shorter) remain. Errors never carry the token.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { AuthenticationError } from '@azure/identity';

export interface ImdsCredentialOptions {
  /** IMDS base URL without trailing slash, e.g. `http://169.254.169.254`. */
  host: string;
  /** The user-assigned identity's client ID. */
  clientId: string | undefined;
  /** Or its ARM resource ID (used only without clientId). */
  resourceId?: string;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /** Attempts for 404/410/429/5xx and network errors (NMI answers 404 while it assigns the identity); default 3. */
  attempts?: number;
}

interface CachedToken {
  token: AccessToken;
  refreshAt: number;
}

const REFRESH_MARGIN_MS = 5 * 60_000;

export class ImdsCredential implements TokenCredential {
  readonly #opts: ImdsCredentialOptions;
  readonly #cache = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<AccessToken>>();

  constructor(opts: ImdsCredentialOptions) {
    this.#opts = opts;
  }

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    if (scope === undefined) throw new AuthenticationError(400, { error: 'invalid_request', error_description: 'IMDS: no scope given' });
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
        last = `IMDS at ${url.origin} unreachable: ${(err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'error')}`;
        continue;
      }
      if (res.status === 200) return this.#accept(resource, res.body);
      last = `IMDS at ${url.origin} answered ${res.status} for client ID ${this.#opts.clientId ?? '(default)'}: ${errorText(res.body)}`;
      if (!(res.status === 404 || res.status === 410 || res.status === 429 || res.status >= 500)) break;
    }
    throw new AuthenticationError(401, { error: 'imds_error', error_description: last });
  }

  #accept(resource: string, body: string): AccessToken {
    let doc: { access_token?: unknown; expires_on?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body) as typeof doc;
    } catch {
      throw new AuthenticationError(401, { error: 'imds_error', error_description: 'IMDS answered 200 with a body that is not JSON' });
    }
    if (typeof doc.access_token !== 'string' || doc.access_token === '') {
      throw new AuthenticationError(401, { error: 'imds_error', error_description: 'IMDS answered 200 without access_token' });
    }
    const now = Date.now();
    const expiresOn = Number(doc.expires_on);
    const expiresIn = Number(doc.expires_in);
    const expiresOnTimestamp = Number.isFinite(expiresOn) && expiresOn > 0 ? expiresOn * 1000 : Number.isFinite(expiresIn) ? now + expiresIn * 1000 : now;
    const lifetime = Math.max(0, expiresOnTimestamp - now);
    const token: AccessToken = { token: doc.access_token, expiresOnTimestamp, tokenType: 'Bearer', refreshAfterTimestamp: now + Math.max(0, lifetime - Math.min(REFRESH_MARGIN_MS, lifetime / 2)) };
    this.#cache.set(resource, { token, refreshAt: token.refreshAfterTimestamp ?? expiresOnTimestamp });
    return token;
  }
}

/** Error text of an IMDS answer (JSON error_description or the text body), bounded. */
function errorText(body: string): string {
  try {
    const doc = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    const text = [doc.error, doc.error_description].filter((x) => typeof x === 'string').join(': ');
    if (text !== '') return text.slice(0, 300);
  } catch {
    // not JSON: NMI answers some errors as text
  }
  return body.slice(0, 300);
}

function get(url: URL, timeoutMs: number): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { Metadata: 'true' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Verification of workload-identity client assertions (federated identity credentials), the way Entra ID
 * does it: the assertion's `iss`, `sub` and `aud` must match one federated credential of the app, and its
 * signature must verify with a key from the issuer's own OIDC metadata, fetched from
 * `<iss>/.well-known/openid-configuration` and its `jwks_uri` over HTTPS (trusting the given CAs, e.g. the
 * kube-apiserver's), cached for a few minutes.
 *
 * Assertion times are checked against the real wall clock, not the emulator clock: the assertion comes
 * from a real issuer (the kube-apiserver) on real time, and shifting the emulator's clock to test secret
 * expiry must not break the token exchange.
 */
import https from 'node:https';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import type { FederatedCredentialConfig } from './contract.ts';
import { entraErrors } from './entra-errors.ts';
import type { EntraError } from './entra-errors.ts';
import { KvsyncError } from '../../util/errors.ts';

export const DEFAULT_FEDERATION_AUDIENCE = 'api://AzureADTokenExchange';
/** How long fetched issuer keys are reused. */
const KEYS_TTL_MS = 5 * 60_000;
/** A signing key missing from the cache triggers a refetch, at most this often per issuer. */
const KEYS_REFETCH_MIN_MS = 10_000;
/** Leeway on the assertion's exp/nbf, for clock skew between the issuer and us. */
const ASSERTION_LEEWAY_SECONDS = 300;
const FETCH_TIMEOUT_MS = 5_000;
const FETCH_LIMIT_BYTES = 1024 * 1024;

/** Why the issuer metadata could not be fetched; never reaches the client beyond AADSTS90061. */
export class IssuerMetadataError extends KvsyncError<'IssuerMetadataUnavailable'> {
  override readonly name = 'IssuerMetadataError';
  constructor(message: string) {
    super('IssuerMetadataUnavailable', message);
  }
}

interface CachedKeys {
  jwks: JSONWebKeySet;
  fetchedAtMs: number;
}

export interface FederatedAssertionVerifierOptions {
  /** PEM CA certificates trusted for issuer HTTPS (in addition to nothing: they replace the default roots when non-empty). */
  trustedCaPems: string[];
  /** Wall clock in ms; injectable for tests. */
  nowMs?: () => number;
  /** Told why issuer metadata could not be fetched (clients only see AADSTS90061). */
  log?: (line: string) => void;
}

/** Verifies client assertions against federated credentials; one instance per emulator run (holds the key cache). */
export class FederatedAssertionVerifier {
  readonly #ca: string[];
  readonly #nowMs: () => number;
  readonly #log: (line: string) => void;
  readonly #cache = new Map<string, CachedKeys>();
  readonly #inflight = new Map<string, Promise<CachedKeys>>();

  constructor(opts: FederatedAssertionVerifierOptions) {
    this.#ca = opts.trustedCaPems;
    this.#nowMs = opts.nowMs ?? Date.now;
    this.#log = opts.log ?? (() => undefined);
  }

  /**
   * Returns the matched credential or throws an {@link EntraError} (700211/700213/700212 no matching
   * record, 50027 malformed, 90061 metadata unavailable, 7000272 unknown key, 700027 bad signature,
   * 700024 outside validity).
   */
  async verify(assertion: string, credentials: FederatedCredentialConfig[]): Promise<FederatedCredentialConfig> {
    let claims: JWTPayload;
    let kid: string | undefined;
    try {
      claims = decodeJwt(assertion);
      kid = decodeProtectedHeader(assertion).kid;
    } catch {
      throw entraErrors.malformedAssertion();
    }
    const iss = claims.iss;
    const sub = claims.sub;
    if (typeof iss !== 'string' || typeof sub !== 'string') {
      throw entraErrors.malformedAssertion();
    }
    const audiences = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const byIssuer = credentials.filter((c) => c.issuer === iss);
    if (byIssuer.length === 0) {
      throw entraErrors.noMatchingIssuer(iss);
    }
    const bySubject = byIssuer.filter((c) => c.subject === sub);
    if (bySubject.length === 0) {
      throw entraErrors.noMatchingSubject(sub);
    }
    const matched = bySubject.find((c) => (c.audiences ?? [DEFAULT_FEDERATION_AUDIENCE]).some((a) => audiences.includes(a)));
    if (matched === undefined) {
      throw entraErrors.noMatchingAudience(audiences.join(', '));
    }

    let keys: CachedKeys;
    try {
      keys = await this.#keysFor(iss, kid);
    } catch (err) {
      if (err instanceof IssuerMetadataError) {
        this.#log(`federated issuer metadata unavailable: ${err.message}`);
        throw entraErrors.issuerMetadataUnavailable();
      }
      throw err;
    }
    try {
      await jwtVerify(assertion, createLocalJWKSet(keys.jwks), {
        currentDate: new Date(this.#nowMs()),
        clockTolerance: ASSERTION_LEEWAY_SECONDS,
      });
    } catch (err) {
      throw this.#verificationError(err, claims, kid ?? '', iss);
    }
    return matched;
  }

  #verificationError(err: unknown, claims: JWTPayload, kid: string, iss: string): EntraError {
    if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return entraErrors.signingKeyNotFound(kid, iss);
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JOSEAlgNotAllowed) {
      return entraErrors.assertionSignatureInvalid();
    }
    if (err instanceof joseErrors.JWTExpired || (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf')) {
      return entraErrors.assertionOutsideValidity(Math.floor(this.#nowMs() / 1000), claims.nbf, claims.exp);
    }
    return entraErrors.malformedAssertion();
  }

  async #keysFor(issuer: string, kid: string | undefined): Promise<CachedKeys> {
    const cached = this.#cache.get(issuer);
    const now = this.#nowMs();
    if (cached !== undefined) {
      const fresh = now - cached.fetchedAtMs < KEYS_TTL_MS;
      const hasKid = kid === undefined || cached.jwks.keys.some((k) => k.kid === kid);
      if (fresh && (hasKid || now - cached.fetchedAtMs < KEYS_REFETCH_MIN_MS)) {
        return cached;
      }
    }
    let pending = this.#inflight.get(issuer);
    if (pending === undefined) {
      pending = this.#fetchKeys(issuer).finally(() => this.#inflight.delete(issuer));
      this.#inflight.set(issuer, pending);
    }
    const keys = await pending;
    this.#cache.set(issuer, keys);
    return keys;
  }

  async #fetchKeys(issuer: string): Promise<CachedKeys> {
    const discoveryUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const discovery = await this.#getJson(discoveryUrl);
    const jwksUri = (discovery as { jwks_uri?: unknown }).jwks_uri;
    if (typeof jwksUri !== 'string') {
      throw new IssuerMetadataError(`${discoveryUrl} has no jwks_uri`);
    }
    const jwks = await this.#getJson(jwksUri);
    const keys = (jwks as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) {
      throw new IssuerMetadataError(`${jwksUri} is not a JWKS`);
    }
    return { jwks: jwks as JSONWebKeySet, fetchedAtMs: this.#nowMs() };
  }

  #getJson(url: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        reject(new IssuerMetadataError(`invalid URL ${url}`));
        return;
      }
      if (parsed.protocol !== 'https:') {
        reject(new IssuerMetadataError(`issuer metadata must be served over https: ${url}`));
        return;
      }
      const req = https.get(
        parsed,
        { ...(this.#ca.length > 0 ? { ca: this.#ca } : {}), timeout: FETCH_TIMEOUT_MS, headers: { Accept: 'application/json, application/jwk-set+json, */*' } },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > FETCH_LIMIT_BYTES) {
              req.destroy(new IssuerMetadataError(`${url}: response too large`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            if (res.statusCode !== 200) {
              reject(new IssuerMetadataError(`${url}: HTTP ${res.statusCode ?? 0}`));
              return;
            }
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
            } catch {
              reject(new IssuerMetadataError(`${url}: not JSON`));
            }
          });
          res.on('error', (e) => reject(new IssuerMetadataError(`${url}: ${e.message}`)));
        },
      );
      req.on('timeout', () => req.destroy(new IssuerMetadataError(`${url}: timed out`)));
      req.on('error', (e) => reject(e instanceof IssuerMetadataError ? e : new IssuerMetadataError(`${url}: ${e.message}`)));
    });
  }
}

/**
 * The emulator's token authority: it holds the per-run RS256 signing key, issues access tokens shaped
 * like Entra ID v1 access tokens for Key Vault, publishes the public key as a JWKS, and verifies the
 * bearer tokens the Key Vault side receives.
 *
 * Choices (documented in docs/emulator-identity.md):
 * - `iss` is `https://sts.windows.net/<tenant>/`, what real Key Vault tokens carry (the Key Vault resource
 *   accepts v1 tokens, so Entra issues v1 even through the v2 token endpoint). The OIDC discovery
 *   document's `issuer` is a different thing (`<authority>/<tenant>/v2.0`), exactly as in Azure.
 * - `iat` and `nbf` are set 5 minutes in the past, as Entra does, to absorb clock skew.
 * - All times come from the emulator's {@link Clock}, so the admin time shift expires tokens too.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, errors as joseErrors, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import type { Clock } from '../clock.ts';
import { KEY_VAULT_AUDIENCE } from './contract.ts';
import type { AccessTokenVerifier, TokenRejection, TokenVerification } from './contract.ts';

/** Seconds Entra back-dates `iat`/`nbf` by. */
const BACKDATE_SECONDS = 300;
/** Default access-token lifetime; Entra's default for client credentials is about an hour. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3599;

export interface IssueAccessTokenParams {
  objectId: string;
  clientId: string;
  /** `aud` claim, e.g. https://vault.azure.net */
  audience: string;
  lifetimeSeconds?: number;
  /**
   * How the client authenticated, Entra's `appidacr`: '1' client secret, '2' certificate or assertion
   * (also what managed identities get). Default '1'.
   */
  authMethod?: '0' | '1' | '2';
  /** Extra claims (e.g. `xms_mirid` for managed identities); cannot override the standard ones. */
  extraClaims?: Record<string, string | number | boolean>;
}

export interface IssuedAccessToken {
  accessToken: string;
  /** `exp`, seconds since the epoch on the emulator clock. */
  expiresOn: number;
  /** `nbf`, seconds since the epoch on the emulator clock. */
  notBefore: number;
}

/** A JSON Web Key Set as served at the JWKS endpoint. */
export interface PublicJwks {
  keys: JWK[];
}

/** The token authority of one emulator run. Create it with {@link TokenAuthority.create}. */
export class TokenAuthority implements AccessTokenVerifier {
  readonly tenantId: string;
  /** The `iss` claim of every token this authority issues. */
  readonly issuer: string;
  readonly #clock: Clock;
  readonly #authorityUrl: () => string;
  readonly #privateKey: CryptoKey;
  readonly #publicKey: CryptoKey;
  readonly #publicJwk: JWK;

  private constructor(opts: {
    tenantId: string;
    clock: Clock;
    authorityUrl: () => string;
    privateKey: CryptoKey;
    publicKey: CryptoKey;
    publicJwk: JWK;
  }) {
    this.tenantId = opts.tenantId;
    this.issuer = `https://sts.windows.net/${opts.tenantId}/`;
    this.#clock = opts.clock;
    this.#authorityUrl = opts.authorityUrl;
    this.#privateKey = opts.privateKey;
    this.#publicKey = opts.publicKey;
    this.#publicJwk = opts.publicJwk;
  }

  /** Generates the per-run RSA-2048 signing key. `authorityUrl` is read lazily (the port may be known later). */
  static async create(opts: { tenantId: string; clock: Clock; authorityUrl: () => string }): Promise<TokenAuthority> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: false });
    // The public half is always exportable in WebCrypto, the private half stays inside.
    const exported = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(exported);
    const publicJwk: JWK = { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: exported.n, e: exported.e };
    return new TokenAuthority({ ...opts, privateKey, publicKey, publicJwk });
  }

  /** The authority URL (scheme://host:port, no tenant) clients use as `authorityHost`. */
  authorityUrl(): string {
    return this.#authorityUrl().replace(/\/+$/, '');
  }

  /** The JWKS served at `/{tenant}/discovery/v2.0/keys`. */
  jwks(): PublicJwks {
    return { keys: [{ ...this.#publicJwk }] };
  }

  /** Signs an access token for a principal; see the module comment for the claim choices. */
  async issueAccessToken(p: IssueAccessTokenParams): Promise<IssuedAccessToken> {
    const now = this.#clock.nowSeconds();
    const lifetime = p.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
    const notBefore = now - BACKDATE_SECONDS;
    const expiresOn = now + lifetime;
    const claims: JWTPayload = {
      ...p.extraClaims,
      aud: p.audience,
      iss: this.issuer,
      iat: notBefore,
      nbf: notBefore,
      exp: expiresOn,
      aio: randomUUID(),
      appid: p.clientId,
      appidacr: p.authMethod ?? '1',
      azp: p.clientId,
      idp: this.issuer,
      oid: p.objectId,
      rh: '0.emulator.',
      sub: p.objectId,
      tid: this.tenantId,
      uti: randomUUID().replaceAll('-', '').slice(0, 22),
      ver: '1.0',
    };
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.#publicJwk.kid })
      .sign(this.#privateKey);
    return { accessToken, expiresOn, notBefore };
  }

  /**
   * Checks a bearer token (with or without the `Bearer ` prefix): RS256 signature by this run's key,
   * `iss`, `tid`, `aud` (Key Vault, with or without trailing slash), `nbf` and `exp` on the emulator clock
   * (no leeway: Entra already back-dates `nbf`). Never throws; never echoes the token in a message.
   */
  async verifyAccessToken(bearer: string): Promise<TokenVerification> {
    const token = bearer.replace(/^bearer\s+/i, '').trim();
    if (token.split('.').length !== 3) {
      return reject('malformed', 'The token is not a JWS in compact serialization.');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#publicKey, {
        algorithms: ['RS256'],
        currentDate: new Date(this.#clock.nowMs()),
      }));
    } catch (err) {
      return reject(...rejectionFor(err));
    }
    if (payload.iss !== this.issuer) {
      return reject('wrong-issuer', `The token issuer '${String(payload.iss)}' is not '${this.issuer}'.`);
    }
    if (payload.tid !== this.tenantId) {
      return reject('wrong-tenant', `The token is for tenant '${String(payload.tid)}', not '${this.tenantId}'.`);
    }
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    const audience = audiences.find((a) => a !== undefined && a.replace(/\/+$/, '') === KEY_VAULT_AUDIENCE);
    if (audience === undefined) {
      return reject('wrong-audience', `The audience '${audiences.join(', ')}' is invalid; expected '${KEY_VAULT_AUDIENCE}'.`);
    }
    const oid = payload.oid;
    const clientId = payload.appid ?? payload.azp;
    if (typeof oid !== 'string' || typeof clientId !== 'string' || typeof payload.exp !== 'number') {
      return reject('malformed', 'The token lacks the oid, appid or exp claim.');
    }
    return {
      ok: true,
      token: { objectId: oid, clientId, tenantId: this.tenantId, audience, expiresOn: payload.exp },
    };
  }
}

function reject(reason: TokenRejection['reason'], message: string): TokenVerification {
  return { ok: false, rejection: { reason, message } };
}

function rejectionFor(err: unknown): [TokenRejection['reason'], string] {
  if (err instanceof joseErrors.JWTExpired) {
    return ['expired', 'The token is expired.'];
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') {
      return ['not-yet-valid', 'The token is not yet valid (nbf).'];
    }
    return ['malformed', `The token's '${err.claim}' claim is invalid.`];
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return ['bad-signature', 'The token signature is invalid.'];
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return ['bad-signature', 'The token is not signed with RS256.'];
  }
  return ['malformed', 'The token could not be parsed.'];
}

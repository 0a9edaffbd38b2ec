/**
 * Who may deliver events: Event Grid proves itself with a shared key or a Microsoft Entra token.
 *
 * - Shared key (`--eventgrid-key-file`): sent as the `aeg-sas-key` header (an Event Grid delivery
 *   property, "Is secret") or as the `code` query parameter of the endpoint URL (Event Grid's "client
 *   secret as a query parameter"). Compared in constant time; the file is re-read at most every 10 s,
 *   so a rotated Kubernetes Secret volume takes effect without a restart.
 * - Entra token (`--eventgrid-audience`): Event Grid sends `Authorization: Bearer <JWT>` obtained for the
 *   subscription's Entra application. Checked: RS256 signature against the authority's JWKS (from its
 *   OIDC discovery document), `iss` (the tenant's v2.0 or v1 issuer), `aud` (one of the configured
 *   audiences: application ID URI or client ID), `tid`, `exp`/`nbf` with 5 min leeway, and optionally
 *   the calling application (`appid`/`azp`).
 *
 * Nothing here logs or returns a key or a token; failure reasons name the check only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { EventGridConfigError } from './errors.ts';

/** What a request offers as proof, taken from its headers and URL. */
export interface DeliveryCredentials {
  /** `aeg-sas-key` header */
  sasKey: string | undefined;
  /** `code` query parameter */
  queryCode: string | undefined;
  /** `Authorization` header */
  authorization: string | undefined;
}

export type AuthResult = { ok: true; method: 'sharedKey' | 'entraToken' } | { ok: false; why: string };

export interface DeliveryAuthenticator {
  authenticate(c: DeliveryCredentials): Promise<AuthResult>;
}

/** Equal strings, in time independent of where they differ and of their lengths (both are hashed first). */
export function constantTimeEquals(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

export const MIN_SHARED_KEY_LENGTH = 16;

export interface SharedKeyOptions {
  keyFile: string;
  /** How long a read key is used before the file is read again; default 10 s. */
  reloadMs?: number;
  now?: () => number;
}

/** The `aeg-sas-key` header or `code` query parameter must equal the key in `keyFile`. */
export class SharedKeyAuthenticator implements DeliveryAuthenticator {
  readonly #opts: SharedKeyOptions;
  #key: string | undefined;
  #readAt = 0;

  constructor(opts: SharedKeyOptions) {
    this.#opts = opts;
  }

  /**
   * Reads the key file (trimmed).
   * @throws EventGridConfigError when it cannot be read or holds fewer than 16 characters.
   */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#opts.keyFile, 'utf8');
    } catch (err) {
      throw new EventGridConfigError(`--eventgrid-key-file ${this.#opts.keyFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    const key = text.trim();
    if (key.length < MIN_SHARED_KEY_LENGTH) throw new EventGridConfigError(`--eventgrid-key-file ${this.#opts.keyFile}: the key must have at least ${MIN_SHARED_KEY_LENGTH} characters`);
    this.#key = key;
    this.#readAt = (this.#opts.now ?? Date.now)();
  }

  async authenticate(c: DeliveryCredentials): Promise<AuthResult> {
    const now = (this.#opts.now ?? Date.now)();
    if (this.#key === undefined || now - this.#readAt >= (this.#opts.reloadMs ?? 10_000)) {
      // A failed re-read keeps the previous key (a Secret volume being swapped).
      await this.load().catch(() => undefined);
    }
    const key = this.#key;
    if (key === undefined) return { ok: false, why: 'no shared key loaded' };
    const offered = [c.sasKey, c.queryCode].filter((v): v is string => v !== undefined);
    if (offered.length === 0) return { ok: false, why: 'no aeg-sas-key header or code parameter' };
    // Both compared, so the time does not tell which one was tried.
    let match = false;
    for (const v of offered) match = constantTimeEquals(v, key) || match;
    return match ? { ok: true, method: 'sharedKey' } : { ok: false, why: 'shared key mismatch' };
  }
}

export interface EntraTokenOptions {
  /** e.g. https://login.microsoftonline.com (or the emulator's authority host) */
  authorityHost: string;
  tenantId: string;
  /** Accepted `aud` values: the Entra application's ID URI and/or client ID. */
  audiences: string[];
  /**
   * `appid`/`azp` must be one of these (e.g. Event Grid's own application). Required: without it, any
   * application of the tenant that can get a token for the audience could deliver events.
   */
  allowedClientIds: string[];
  /** For the authority's discovery and JWKS requests (custom CA, host resolution); default Node's. */
  agent?: https.Agent | undefined;
  /** Leeway for exp/nbf; default 300 s (Entra's own). */
  clockToleranceSec?: number;
  /** For tests: the current time in seconds. */
  currentDate?: () => Date;
}

/** One GET over HTTPS with `agent`, answering status, headers and the body (bounded to 1 MiB). */
function httpsGet(url: string, agent: https.Agent | undefined, headers: Record<string, string>, signal?: AbortSignal): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...(agent === undefined ? {} : { agent }), headers, timeout: 10_000, ...(signal === undefined ? {} : { signal }) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1024 * 1024) req.destroy(new Error(`${url}: response too large`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 10 s`)));
    req.on('error', reject);
  });
}

interface Discovery {
  issuers: string[];
  jwks: JWTVerifyGetKey;
}

/** `Authorization: Bearer <JWT>` from the configured tenant, for one of the configured audiences. */
export class EntraTokenAuthenticator implements DeliveryAuthenticator {
  readonly #opts: EntraTokenOptions;
  #discovery: Promise<Discovery> | undefined;

  constructor(opts: EntraTokenOptions) {
    if (opts.audiences.length === 0) throw new EventGridConfigError('--eventgrid-audience: at least one audience is required');
    if (opts.tenantId === '') throw new EventGridConfigError('--eventgrid-tenant-id: a tenant is required for Entra tokens');
    if (opts.allowedClientIds.length === 0) throw new EventGridConfigError('--eventgrid-client-id: the applications allowed to deliver (e.g. Event Grid\'s own) are required for Entra tokens');
    this.#opts = opts;
  }

  async #json(url: string): Promise<Record<string, unknown>> {
    const res = await httpsGet(url, this.#opts.agent, { accept: 'application/json' });
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
    const parsed = JSON.parse(res.body) as unknown;
    if (typeof parsed !== 'object' || parsed === null) throw new Error(`${url}: not a JSON object`);
    return parsed as Record<string, unknown>;
  }

  /**
   * The tenant's issuers and signing keys, from its v2.0 and v1 discovery documents; fetched once,
   * again after a failure. v1 tokens (the default for app registrations) carry the v1 issuer
   * (`https://sts.windows.net/<tenant>/` in the public cloud), v2 tokens the v2.0 one.
   */
  #discover(): Promise<Discovery> {
    this.#discovery ??= (async () => {
      const base = `${this.#opts.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(this.#opts.tenantId)}`;
      const [v2, v1] = await Promise.all([this.#json(`${base}/v2.0/.well-known/openid-configuration`), this.#json(`${base}/.well-known/openid-configuration`).catch((): Record<string, unknown> => ({}))]);
      const jwksUri = v2.jwks_uri;
      if (typeof jwksUri !== 'string') throw new Error('the discovery document has no jwks_uri');
      const issuers = new Set<string>([`https://sts.windows.net/${this.#opts.tenantId}/`]);
      for (const doc of [v2, v1]) if (typeof doc.issuer === 'string') issuers.add(doc.issuer.replace('{tenantid}', this.#opts.tenantId));
      const agent = this.#opts.agent;
      const jwks = createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: 10_000,
        cooldownDuration: 10_000,
        cacheMaxAge: 24 * 3600_000,
        [customFetch]: async (url: string, init: RequestInit) => {
          const headers: Record<string, string> = {};
          new Headers(init.headers).forEach((v, k) => (headers[k] = v));
          const res = await httpsGet(url, agent, headers, init.signal ?? undefined);
          return new Response(res.body, { status: res.status, headers: res.headers });
        },
      });
      return { issuers: [...issuers], jwks };
    })();
    this.#discovery.catch(() => (this.#discovery = undefined));
    return this.#discovery;
  }

  /** Fetches the discovery documents now (at start-up, to report a wrong authority early). */
  async prefetch(): Promise<void> {
    await this.#discover();
  }

  async authenticate(c: DeliveryCredentials): Promise<AuthResult> {
    const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(c.authorization ?? '');
    if (m?.[1] === undefined) return { ok: false, why: 'no bearer token' };
    let d: Discovery;
    try {
      d = await this.#discover();
    } catch {
      return { ok: false, why: 'the authority metadata could not be fetched' };
    }
    try {
      const { payload } = await jwtVerify(m[1], d.jwks, {
        issuer: d.issuers,
        audience: this.#opts.audiences,
        algorithms: ['RS256'],
        clockTolerance: this.#opts.clockToleranceSec ?? 300,
        ...(this.#opts.currentDate === undefined ? {} : { currentDate: this.#opts.currentDate() }),
      });
      if (payload.tid !== undefined && payload.tid !== this.#opts.tenantId) return { ok: false, why: 'token from another tenant' };
      const client = typeof payload.appid === 'string' ? payload.appid : payload.azp;
      if (typeof client !== 'string' || !this.#opts.allowedClientIds.some((id) => id.toLowerCase() === client.toLowerCase())) return { ok: false, why: 'token of an application that is not allowed' };
      return { ok: true, method: 'entraToken' };
    } catch (err) {
      return { ok: false, why: tokenFailure(err) };
    }
  }
}

/** The check that failed, never the token. */
function tokenFailure(err: unknown): string {
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" rejected`;
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'token signed by an unknown key';
  if (err instanceof joseErrors.JOSEError) return `token rejected (${err.code})`;
  return 'token could not be verified';
}

/** Accepts a request any of `authenticators` accepts. */
export class AnyOfAuthenticator implements DeliveryAuthenticator {
  readonly #all: DeliveryAuthenticator[];

  constructor(all: DeliveryAuthenticator[]) {
    if (all.length === 0) throw new EventGridConfigError('the Event Grid endpoint needs --eventgrid-key-file or --eventgrid-audience');
    this.#all = all;
  }

  async authenticate(c: DeliveryCredentials): Promise<AuthResult> {
    const whys: string[] = [];
    for (const a of this.#all) {
      const r = await a.authenticate(c);
      if (r.ok) return r;
      whys.push(r.why);
    }
    return { ok: false, why: whys.join('; ') };
  }
}

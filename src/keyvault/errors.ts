/**
 * Typed sync failures of `src/keyvault`: every failure has a `reason` a Kubernetes status condition can
 * show (`Ready=False, reason=VaultAccessDenied`) and a message that names the vault and the object.
 *
 * Contract: messages never contain a secret value, a token, a password or a key, and never repeat what
 * a service said. {@link toSyncError} is the one place where an Azure failure (Key Vault, Entra ID, IMDS,
 * the network) becomes kvsync's: our own sentence plus the HTTP status and the error codes (Key Vault's
 * `code`/`innererror.code`, Entra's `AADSTS` number), each kept only if it looks like a code. A service's
 * message can echo what kvsync sent (Entra's AADSTS700016 quotes the client ID, which a misconfigured
 * spec can take from a password), and a hostile host can send anything; the underlying error is never
 * attached as `cause` either (its request/response could carry a token). Everything a condition, an
 * event, a log line, `kvsync render` or the mount sidecar shows of an Azure failure comes from here.
 */
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import type { FailureReason } from '../api/condition-reasons.ts';
import type { TemplateFailure } from '../api/template.ts';
import { isPkiError } from '../pki/errors.ts';
import { KvsyncError } from '../util/errors.ts';
import { NETWORK_ERROR_CODES } from '../util/network-codes.ts';
import { cutOffStatusOf } from './response-limit.ts';

/** The condition reasons a fetch or render can fail with. */
export type SyncFailureReason = Extract<
  FailureReason,
  | 'VaultAccessDenied'
  | 'ObjectNotFound'
  | 'ObjectDisabled'
  | 'InvalidCertificate'
  | 'KeyMismatch'
  | 'IdentityNotPermitted'
  | 'IdentityNotFound'
  | 'AuthenticationFailed'
  | 'Throttled'
  | 'VaultUnreachable'
  /** The vault's circuit breaker is open after repeated outage failures (vault-guard.ts): requests fail fast. */
  | 'VaultUnavailable'
  /** A certificate whose decoding took longer or more memory than allowed (or a saturated decoder). */
  | 'CertificateTooExpensive'
  /** The vault answered something kvsync will not use: unreadable, too large, a redirect, another vault's object. */
  | 'InvalidResponse'
  /** A Key Vault request got no complete answer within its deadline (request-deadline.ts). */
  | 'VaultTimeout'
  /** Entra ID, IMDS or the TokenRequest gave no token within its deadline (request-deadline.ts). */
  | 'AuthenticationTimeout'
  /** A Secret template could not be rendered from the values it names (too large, not text for json-string). */
  | 'TemplateFailed'
  | 'InvalidSpec'
>;

export interface SyncErrorOptions {
  /** The vault object (name) the failure is about, when there is one. */
  object?: string;
  /** For Throttled and VaultUnavailable: how long to wait before trying again. */
  retryAfterMs?: number;
  /** True when the object is `optional`: the failure is reported but does not fail the sync. */
  optional?: boolean;
}

export class SyncError extends KvsyncError<SyncFailureReason> {
  override readonly name = 'SyncError';
  readonly object?: string;
  /** Set on failures of `optional` objects (see FetchResult). */
  readonly optional: boolean;

  constructor(reason: SyncFailureReason, message: string, opts: SyncErrorOptions = {}) {
    super(reason, message, { retryAfterMs: opts.retryAfterMs });
    if (opts.object !== undefined) this.object = opts.object;
    this.optional = opts.optional ?? false;
  }

  /** A copy flagged as the failure of an optional object. */
  asOptional(): SyncError {
    return new SyncError(this.reason, this.message, { ...(this.object === undefined ? {} : { object: this.object }), ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }), optional: true });
  }
}

/** A Secret template that could not be rendered (TemplateFailed), with why in a fixed set of words. */
export class TemplateRenderError extends SyncError {
  readonly failure: TemplateFailure;

  constructor(failure: TemplateFailure, message: string) {
    super('TemplateFailed', message);
    this.failure = failure;
  }
}

export function isSyncError(err: unknown, reason?: SyncFailureReason): err is SyncError {
  return err instanceof SyncError && (reason === undefined || err.reason === reason);
}

/** Where a failure happened, for the message: `vault "gebakv", secret "db-password"`. */
export interface FailureSite {
  vault: string;
  /** e.g. `secret "db-password"` or `certificate "nginx" (version 1a2b…)` */
  object?: string;
  /** The object's name, copied into SyncError.object. */
  objectName?: string;
}

/** The parts of an Azure core `RestError` we read (duck-typed: the class lives in a transitive package). */
interface RestErrorLike {
  name: 'RestError';
  message: string;
  statusCode?: number;
  code?: string;
  details?: unknown;
  response?: { headers: { get(name: string): string | undefined } };
}

function isRestErrorLike(err: unknown): err is RestErrorLike {
  return err instanceof Error && err.name === 'RestError';
}

const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_)/;

/** `innererror.code` of a Key Vault error body (`{"error":{"code","message","innererror":{"code"}}}`). */
function innerCode(details: unknown): string | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const error = (details as { error?: { innerError?: { code?: unknown }; innererror?: { code?: unknown } } }).error;
  const code = error?.innerError?.code ?? error?.innererror?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Retry-After (seconds or HTTP date) or retry-after-ms / x-ms-retry-after-ms, in ms. */
export function retryAfterMsOf(headers: { get(name: string): string | undefined } | undefined, now = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  for (const h of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = headers.get(h);
    if (v !== undefined && /^\d+(\.\d+)?$/.test(v.trim())) return Math.ceil(Number(v));
  }
  const ra = headers.get('retry-after');
  if (ra === undefined) return undefined;
  if (/^\d+$/.test(ra.trim())) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A code a service sent (Key Vault's `code`/`innererror.code`, Entra's `error`, MSAL's `errorCode`,
 * a Node errno code), repeated only when it looks like one: a hostile or broken service could put
 * anything in these fields, and its text could echo what kvsync sent.
 */
export function safeCode(code: unknown): string | undefined {
  return typeof code === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(code) ? code : undefined;
}

/** Entra's error number (`AADSTS700016`): from `error_codes`, MSAL's `errorNo`, else the first `AADSTS<n>` of the text. */
function aadstsCode(err: Error): string | undefined {
  const response = (err as { errorResponse?: { errorCodes?: unknown } }).errorResponse;
  const fromList = Array.isArray(response?.errorCodes) ? response.errorCodes.find((c): c is number => Number.isInteger(c) && c > 0) : undefined;
  if (fromList !== undefined) return `AADSTS${fromList}`;
  const errorNo = (err.cause as { errorNo?: unknown } | undefined)?.errorNo;
  if (typeof errorNo === 'string' && /^\d{1,9}$/.test(errorNo)) return `AADSTS${errorNo}`;
  const found = /\bAADSTS(\d{1,9})\b/.exec(err.message);
  return found === null ? undefined : `AADSTS${found[1] ?? ''}`;
}

/**
 * Our sentence for a failed token request, with the codes only: Entra's messages quote the client ID
 * (AADSTS700016), the tenant or the assertion's subject, so they are never repeated.
 */
function tokenFailure(err: Error): string {
  const aadsts = aadstsCode(err);
  if (aadsts !== undefined) return `Entra ID refused the token request (${aadsts})`;
  const status = (err as { statusCode?: unknown }).statusCode;
  const cause = err.cause as { errorCode?: unknown; code?: unknown } | undefined;
  const codes = [
    typeof status === 'number' ? `HTTP ${status}` : undefined,
    safeCode((err as { errorResponse?: { error?: unknown } }).errorResponse?.error),
    safeCode(cause?.errorCode),
    safeCode(cause?.code),
  ].filter((c): c is string => c !== undefined && c !== '');
  return `no token from Entra ID (${[err.name, ...codes].join(', ')})`;
}

function where(site: FailureSite): string {
  return site.object === undefined ? `vault "${site.vault}"` : `${site.object} in vault "${site.vault}"`;
}

/**
 * Maps anything thrown while authenticating or fetching to a SyncError naming the vault and object.
 *
 * - RestError 401 → AuthenticationFailed; 403 with innererror SecretDisabled/…Disabled → ObjectDisabled;
 *   other 403 (ForbiddenByRbac, AccessDenied, Forbidden) → VaultAccessDenied; 404 → ObjectNotFound;
 *   429 → Throttled (retryAfterMs from the headers); a redirect, or a 2xx / no status that could not be
 *   parsed → InvalidResponse; no status with a network/TLS code, and other statuses → VaultUnreachable;
 *   a body cut off mid-way (response-limit.ts) → VaultUnreachable.
 * - @azure/identity CredentialUnavailableError / AuthenticationError / AuthenticationRequiredError (what
 *   the Key Vault challenge policy surfaces for a refused token request) → AuthenticationFailed, with
 *   Entra's AADSTS number when there is one: `Entra ID refused the token request (AADSTS700016)`.
 * - Any other Error → VaultUnreachable naming only its class and errno code.
 * - PkiError → KeyMismatch, CertificateTooExpensive (decoding stopped at its limits) or InvalidCertificate.
 * - A SyncError passes through unchanged.
 */
export function toSyncError(err: unknown, site: FailureSite): SyncError {
  if (err instanceof SyncError) return err;
  const obj = site.objectName === undefined ? {} : { object: site.objectName };
  if (isPkiError(err)) {
    const reason = err.reason === 'KeyMismatch' ? 'KeyMismatch' : err.reason === 'TooExpensive' ? 'CertificateTooExpensive' : 'InvalidCertificate';
    return new SyncError(reason, `${where(site)}: ${err.message}`, obj);
  }
  if (err instanceof CredentialUnavailableError || err instanceof AuthenticationError || (err instanceof Error && /^(AggregateAuthenticationError|CredentialUnavailableError|AuthenticationError|AuthenticationRequiredError)$/.test(err.name))) {
    return new SyncError('AuthenticationFailed', `authentication for ${where(site)} failed: ${tokenFailure(err)}`, obj);
  }
  const cutOffStatus = cutOffStatusOf(err);
  if (cutOffStatus !== undefined) return new SyncError('VaultUnreachable', `${where(site)}: the vault's answer was cut off before its end (HTTP ${cutOffStatus}, then the connection closed)`, obj);
  if (isRestErrorLike(err)) {
    const status = err.statusCode;
    const code = safeCode(err.code);
    const inner = safeCode(innerCode(err.details));
    const codes = [code, inner].filter((c) => c !== undefined).join('/');
    const detail = `HTTP ${status ?? 'no status'}${codes === '' ? '' : ` ${codes}`}`;
    if (status === undefined) {
      if (code === 'PARSE_ERROR') return new SyncError('InvalidResponse', `${where(site)}: the vault's answer could not be read (${code})`, obj);
      return new SyncError('VaultUnreachable', `${where(site)}: cannot reach the vault (${code ?? 'no answer'})`, obj);
    }
    if (status === 401) return new SyncError('AuthenticationFailed', `${where(site)}: the vault refused kvsync's token (${detail})`, obj);
    if (status === 403) {
      if (/Disabled$/i.test(inner ?? '') || /Disabled$/i.test(code ?? '')) return new SyncError('ObjectDisabled', `${where(site)} is disabled (${detail})`, obj);
      return new SyncError('VaultAccessDenied', `${where(site)}: access denied (${detail})`, obj);
    }
    if (status === 404) return new SyncError('ObjectNotFound', `${where(site)} was not found (${detail})`, obj);
    if (status === 429) {
      const retryAfterMs = retryAfterMsOf(err.response?.headers);
      return new SyncError('Throttled', `${where(site)}: throttled by Key Vault (${detail})`, { ...obj, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    }
    if (status >= 300 && status < 400) return new SyncError('InvalidResponse', `${where(site)}: the vault answered with a redirect, which kvsync does not follow to another host (${detail})`, obj);
    if (status >= 200 && status < 300) return new SyncError('InvalidResponse', `${where(site)}: the vault's answer could not be read (${detail})`, obj);
    return new SyncError('VaultUnreachable', `${where(site)}: the vault answered ${detail}`, obj);
  }
  if (err instanceof Error) {
    const code = safeCode((err as NodeJS.ErrnoException).code);
    if (code !== undefined && (NETWORK_ERROR_CODES.has(code) || TLS_CODE.test(code))) return new SyncError('VaultUnreachable', `${where(site)}: cannot reach the vault (${code})`, obj);
    // Thrown while the SDK turned a 200 answer into an object: the answer was not Key Vault's JSON.
    if (code === undefined && ['TypeError', 'SyntaxError', 'RangeError'].includes(err.name)) return new SyncError('InvalidResponse', `${where(site)}: the vault's answer could not be read (${err.name})`, obj);
    if (/challenge resource/i.test(err.message)) return new SyncError('InvalidResponse', `${where(site)}: the vault's authentication challenge names a resource that is not the vault's host`, obj);
    // Anything else may carry data in its message: only its class (and a code) is named.
    return new SyncError('VaultUnreachable', `${where(site)}: unexpected failure (${[err.name, code].filter((c) => c !== undefined).join(', ')})`, obj);
  }
  return new SyncError('VaultUnreachable', `${where(site)}: unexpected failure`, obj);
}

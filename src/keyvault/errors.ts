/**
 * Typed sync failures of `src/keyvault`: every failure has a `reason` a Kubernetes status condition can
 * show (`Ready=False, reason=VaultAccessDenied`) and a message that names the vault and the object.
 *
 * Contract: messages never contain a secret value, a token, a password or a key. Azure SDK errors are
 * mapped by {@link toSyncError}, which copies only the status, the error code and the server's message
 * (Key Vault and Entra messages name principals, vaults and objects, never values), and never attaches
 * the underlying error as `cause` (its request/response could carry a token).
 */
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import type { FailureReason } from '../api/condition-reasons.ts';
import { isPkiError } from '../pki/errors.ts';
import { KvsyncError } from '../util/errors.ts';

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

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'REQUEST_SEND_ERROR', 'UND_ERR_CONNECT_TIMEOUT']);
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

/** First line of a server message, bounded (Entra appends trace IDs and timestamps on further lines). */
function shortMessage(message: string): string {
  const first = message.split(/\r?\n/)[0] ?? '';
  return first.length > 300 ? `${first.slice(0, 300)}…` : first;
}

function where(site: FailureSite): string {
  return site.object === undefined ? `vault "${site.vault}"` : `${site.object} in vault "${site.vault}"`;
}

/**
 * Maps anything thrown while authenticating or fetching to a SyncError naming the vault and object.
 *
 * - RestError 401 → AuthenticationFailed; 403 with innererror SecretDisabled/…Disabled → ObjectDisabled;
 *   other 403 (ForbiddenByRbac, AccessDenied, Forbidden) → VaultAccessDenied; 404 → ObjectNotFound;
 *   429 → Throttled (retryAfterMs from the headers); no status with a network/TLS code → VaultUnreachable;
 *   other statuses → VaultUnreachable (5xx) naming the status.
 * - @azure/identity CredentialUnavailableError / AuthenticationError / AuthenticationRequiredError (what
 *   the Key Vault challenge policy surfaces for a refused token request) → AuthenticationFailed.
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
    return new SyncError('AuthenticationFailed', `authentication for ${where(site)} failed: ${shortMessage(err.message)}`, obj);
  }
  if (isRestErrorLike(err)) {
    const status = err.statusCode;
    const code = err.code ?? '';
    const inner = innerCode(err.details) ?? '';
    const detail = `${status ?? 'no status'} ${[code, inner].filter((c) => c !== '').join('/')}: ${shortMessage(err.message)}`;
    if (status === undefined) {
      if (NETWORK_CODES.has(code) || TLS_CODE.test(code) || code === '') return new SyncError('VaultUnreachable', `${where(site)}: cannot reach the vault (${code || shortMessage(err.message)})`, obj);
    }
    if (status === 401) return new SyncError('AuthenticationFailed', `${where(site)}: ${detail}`, obj);
    if (status === 403) {
      if (/Disabled$/i.test(inner) || /Disabled$/i.test(code)) return new SyncError('ObjectDisabled', `${where(site)} is disabled (${detail})`, obj);
      return new SyncError('VaultAccessDenied', `${where(site)}: access denied (${detail})`, obj);
    }
    if (status === 404) return new SyncError('ObjectNotFound', `${where(site)} was not found (${detail})`, obj);
    if (status === 429) {
      const retryAfterMs = retryAfterMsOf(err.response?.headers);
      return new SyncError('Throttled', `${where(site)}: throttled by Key Vault (${detail})`, { ...obj, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    }
    return new SyncError('VaultUnreachable', `${where(site)}: ${detail}`, obj);
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (NETWORK_CODES.has(code) || TLS_CODE.test(code)) return new SyncError('VaultUnreachable', `${where(site)}: cannot reach the vault (${code})`, obj);
    return new SyncError('VaultUnreachable', `${where(site)}: ${err.name}: ${shortMessage(err.message)}`, obj);
  }
  return new SyncError('VaultUnreachable', `${where(site)}: unexpected failure`, obj);
}

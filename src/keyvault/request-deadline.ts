/**
 * Every Azure request has a deadline: one attempt (connecting, the TLS handshake, the response headers
 * and the whole body) gets `timeoutMs`, and a token (all the requests one `getToken` makes) gets the
 * same. The SDK's own `timeout` is not enough: it stops counting once the headers arrive, so a server
 * that sends its body a byte a second would hold the caller forever. Here the request's AbortSignal
 * fires at the deadline, which closes the socket whatever phase it is in.
 *
 * - {@link keyVaultDeadlinePolicy}: per retry on every Key Vault client (fetch.ts), inside the vault
 *   guard, which counts an expired attempt as an outage failure (a hanging vault opens its breaker).
 *   Throws SyncError `VaultTimeout`; the SDK does not retry it.
 * - {@link BoundedCredential}: wraps every credential (Entra ID, IMDS, workload identity's TokenRequest
 *   behind it) so `getToken` settles within `timeoutMs` or the caller's signal; throws SyncError
 *   `AuthenticationTimeout`. Entra's own requests get {@link requestDeadlinePolicy} through
 *   `credentialOptions`, so the sockets of an abandoned token request are closed too.
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { durationText, withDeadline } from '../util/deadline.ts';
import { SyncError, isSyncError } from './errors.ts';

/** Default deadline of one Azure request (Key Vault, Entra ID, IMDS, TokenRequest) and of one token. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** A pipeline policy that aborts each attempt at `timeoutMs` and throws `expired(host)` instead. */
export function requestDeadlinePolicy(name: string, timeoutMs: number, expired: (host: string) => Error): PipelinePolicy {
  return {
    name,
    sendRequest: (request, next) => {
      const original = request.abortSignal;
      return withDeadline(
        timeoutMs,
        original,
        async ({ signal }) => {
          request.abortSignal = signal;
          try {
            return await next(request);
          } finally {
            // The retry policy sends the same request object again.
            request.abortSignal = original;
          }
        },
        () => expired(new URL(request.url).host),
      );
    },
  };
}

/** The vault's name as messages show it: the first label of its host. */
function vaultOfHost(host: string): string {
  return host.split('.')[0] ?? host;
}

/** The Key Vault request deadline (place it per retry, after the vault guard). */
export function keyVaultDeadlinePolicy(timeoutMs: number): PipelinePolicy {
  return requestDeadlinePolicy('kvsyncKeyVaultDeadline', timeoutMs, (host) => vaultTimeout(vaultOfHost(host), timeoutMs));
}

/** The SyncError of a Key Vault attempt that did not finish within `timeoutMs`. */
export function vaultTimeout(vault: string, timeoutMs: number): SyncError {
  return new SyncError('VaultTimeout', `vault "${vault}" did not answer within ${durationText(timeoutMs)} (connect, TLS handshake and response together)`);
}

/** True for the error of {@link vaultTimeout}. */
export function isVaultTimeout(err: unknown): boolean {
  return isSyncError(err, 'VaultTimeout');
}

/** The Entra ID request deadline for credential options (its error is only seen inside MSAL). */
export function tokenRequestDeadlinePolicy(timeoutMs: number): PipelinePolicy {
  return requestDeadlinePolicy('kvsyncTokenRequestDeadline', timeoutMs, (host) => new SyncError('AuthenticationTimeout', `${host} did not answer a token request within ${durationText(timeoutMs)}`));
}

/**
 * A credential with a deadline on `getToken`: it settles within `timeoutMs`, or when the caller's
 * `abortSignal` fires (the sync's deadline). `source` names where tokens come from for the message,
 * e.g. `Microsoft Entra ID (login.microsoftonline.com)`; never a secret or client ID.
 */
export class BoundedCredential implements TokenCredential {
  readonly inner: TokenCredential;
  readonly #timeoutMs: number;
  readonly #source: string;

  constructor(inner: TokenCredential, timeoutMs: number, source: string) {
    this.inner = inner;
    this.#timeoutMs = timeoutMs;
    this.#source = source;
  }

  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    return withDeadline(this.#timeoutMs, options?.abortSignal, () => this.inner.getToken(scopes, options), () => new SyncError('AuthenticationTimeout', `${this.#source} gave no token within ${durationText(this.#timeoutMs)}`));
  }
}

/**
 * The Azure SDK's Key Vault clients refresh their access token in the background from two minutes
 * before it expires (the token cycler of `@azure/keyvault-common`), and nothing awaits that refresh:
 * when Entra ID or IMDS stays down until the token's end, its last attempt rejects a promise no one
 * handles, and Node ends the process. A process that syncs Secrets must outlive an identity outage.
 *
 * The failure is not lost: every request that needs a token after its end awaits a refresh of its own
 * and fails the sync with a reason (`AuthenticationFailed`, `AuthenticationTimeout`). So such a
 * rejection is logged and dropped; any other unhandled rejection still ends the process, as before.
 */
import { SyncError } from './errors.ts';

/** Error names of `@azure/identity`'s token failures. */
const TOKEN_ERROR_NAMES = new Set(['AuthenticationError', 'AuthenticationRequiredError', 'CredentialUnavailableError']);
/** What the token cycler throws when the credential gave no token before the old one expired. */
const CYCLER_GAVE_UP = 'Failed to refresh access token.';

/** True for a failure to get an access token (what a background token refresh rejects with). */
export function isTokenRefreshFailure(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  if (reason instanceof SyncError) return reason.reason === 'AuthenticationFailed' || reason.reason === 'AuthenticationTimeout';
  return TOKEN_ERROR_NAMES.has(reason.name) || reason.message === CYCLER_GAVE_UP || (reason.stack ?? '').includes('tokenCycler');
}

export interface GuardLog {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Keeps the process alive through background token-refresh failures (logged once per kind of error
 * and minute, without Azure's message); returns the function that removes the guard.
 */
export function guardTokenRefresh(log: GuardLog, proc: Pick<NodeJS.Process, 'on' | 'off'> = process): () => void {
  const lastLogged = new Map<string, number>();
  const onRejection = (reason: unknown): void => {
    if (!isTokenRefreshFailure(reason)) throw reason;
    const kind = reason instanceof SyncError ? reason.reason : (reason as Error).name;
    const now = Date.now();
    if (now - (lastLogged.get(kind) ?? 0) < 60_000) return;
    lastLogged.set(kind, now);
    log.warn({ error: kind }, 'a background token refresh failed; the next request asks for a token again');
  };
  proc.on('unhandledRejection', onRejection);
  return () => proc.off('unhandledRejection', onRejection);
}

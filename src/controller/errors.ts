/** Typed errors of the controller; `reason` is what a KeyVaultSync condition shows. */
import { ApiException } from '@kubernetes/client-node';
import type { FailureReason } from '../api/condition-reasons.ts';
import { KvsyncError } from '../util/errors.ts';
import type { Logger } from 'pino';
import { NETWORK_ERROR_CODES } from '../util/network-codes.ts';

export class ControllerError extends KvsyncError<FailureReason> {
  override readonly name = 'ControllerError';
  /** The Secret/ConfigMap/object the error is about. */
  readonly object: string | undefined;

  constructor(reason: FailureReason, message: string, opts: { object?: string | undefined; retryAfterMs?: number; cause?: unknown } = {}) {
    super(reason, message, { cause: opts.cause, retryAfterMs: opts.retryAfterMs });
    this.object = opts.object;
  }
}

/** Raised when a write is attempted while this replica does not hold the leader lease. */
export class NotLeaderError extends KvsyncError<'NotLeader'> {
  override readonly name = 'NotLeaderError';
  constructor() {
    super('NotLeader', 'this replica is not the leader; not writing');
  }
}

/** The network code of an error or of its causes (undici's `fetch failed` carries one as its cause). */
function connectionCode(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 3) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return code;
  return connectionCode(err.cause, depth + 1);
}

/**
 * A Kubernetes request that got no answer at all (the apiserver restarting, a connection refused or
 * reset) as the transient `ApiServerUnreachable`; undefined for anything else. Key Vault's network
 * failures never reach here unwrapped: the Key Vault layer types them itself.
 */
export function apiServerUnreachable(err: unknown): ControllerError | undefined {
  if (err instanceof KvsyncError) return undefined;
  // undici's own words for a request that died on the wire, whatever its cause says.
  const undiciNetwork = err instanceof TypeError && (err.message === 'fetch failed' || err.message === 'terminated');
  const code = connectionCode(err) ?? (undiciNetwork ? 'connection failed' : undefined);
  if (code === undefined) return undefined;
  return new ControllerError('ApiServerUnreachable', `the Kubernetes API server did not answer (${code}); the last good Secrets stay`, { cause: err });
}

/**
 * Writes a failed sync's condition. The apiserver that failed the sync often cannot take its condition
 * either (it does not answer, or answers 503 while it shuts down or starts): that is logged, and the
 * caller's retry (capped by the refresh interval) writes it, or the sync succeeds, once the apiserver
 * answers again. Any other failure of the write is thrown.
 */
export async function recordFailure(write: () => Promise<void>, log: Logger): Promise<void> {
  try {
    await write();
  } catch (err) {
    const unreachable = apiServerUnreachable(err);
    if (unreachable !== undefined) log.warn({ reason: unreachable.reason, detail: unreachable.message }, 'could not record the failed sync');
    else if (err instanceof ApiException && err.code === 503) log.warn({ status: err.code }, 'could not record the failed sync');
    else throw err;
  }
}

/**
 * Where an unexpected error came from, for the log: its class, its cause's class and code, and the
 * first stack frame (a file and line). Never a message, which might carry data.
 */
export function unexpectedErrorFacts(err: unknown): { errName: string; causeName?: string; causeCode?: string; at?: string } {
  if (!(err instanceof Error)) return { errName: typeof err };
  const cause = err.cause instanceof Error ? err.cause : undefined;
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  const frame = /\n\s+at (?:.*?\()?([^()\s]+:\d+:\d+)\)?/.exec(err.stack ?? '')?.[1];
  return { errName: err.name, ...(cause === undefined ? {} : { causeName: cause.name }), ...(typeof causeCode === 'string' ? { causeCode } : {}), ...(frame === undefined ? {} : { at: frame }) };
}

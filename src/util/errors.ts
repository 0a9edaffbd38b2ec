/**
 * The one shape of kvsync's own errors: an Error with a typed `reason` naming the failure in a word a
 * status condition, an event, an admission denial or a log line can show. Every module's error class
 * extends {@link KvsyncError} with its own reason union, so a caller recognises kvsync's errors with
 * `instanceof` instead of looking for a `reason` property on any Error.
 *
 * Contract for every subclass: the message names vaults, objects, Secrets, fields and counts, never a
 * value, token, key or password.
 */
export class KvsyncError<R extends string = string> extends Error {
  readonly reason: R;
  /** Set when the failure says how long to wait before trying again (Retry-After, an open breaker). */
  readonly retryAfterMs?: number;

  constructor(reason: R, message: string, options: KvsyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

export interface KvsyncErrorOptions {
  cause?: unknown;
  retryAfterMs?: number | undefined;
}

/** True when `err` is one of kvsync's own errors. */
export function isKvsyncError(err: unknown): err is KvsyncError {
  return err instanceof KvsyncError;
}

/** Typed errors of the controller; `reason` is what a KeyVaultSync condition shows. */
import type { FailureReason } from './pipeline.ts';

export class ControllerError extends Error {
  override readonly name = 'ControllerError';
  readonly reason: FailureReason;
  /** The Secret/ConfigMap/object the error is about. */
  readonly object: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(reason: FailureReason, message: string, opts: { object?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.reason = reason;
    this.object = opts.object;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Raised when a write is attempted while this replica does not hold the leader lease. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  readonly reason = 'NotLeader';
  constructor() {
    super('this replica is not the leader; not writing');
  }
}

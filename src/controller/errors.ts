/** Typed errors of the controller; `reason` is what a KeyVaultSync condition shows. */
import type { FailureReason } from '../api/condition-reasons.ts';
import { KvsyncError } from '../util/errors.ts';

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

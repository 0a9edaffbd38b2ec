/** Typed failures of `kvsync mount` (the reason is what a log line or a condition would show). */
export type MountErrorReason = 'InvalidSpec' | 'IdentityUnavailable' | 'IdentityNotSupported' | 'InvalidArguments';

export class MountError extends Error {
  override readonly name = 'MountError';
  readonly reason: MountErrorReason;
  constructor(reason: MountErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

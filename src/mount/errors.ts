/** Typed failures of `kvsync mount` (the reason is what a log line or a condition would show). */
import { KvsyncError } from '../util/errors.ts';

export type MountErrorReason = 'InvalidSpec' | 'IdentityUnavailable' | 'IdentityNotSupported' | 'InvalidArguments';

export class MountError extends KvsyncError<MountErrorReason> {
  override readonly name = 'MountError';
}

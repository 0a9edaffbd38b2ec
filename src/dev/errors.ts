import { KvsyncError } from '../util/errors.ts';

/** Why the local control plane could not be built or started; each names the cause and the fix. */
export type ControlPlaneFailure =
  | 'GoMissing'
  | 'GoTooOld'
  | 'BuildFailed'
  | 'BinaryMissing'
  | 'PortInUse'
  | 'ProcessExited'
  | 'StartTimeout'
  | 'HostPrerequisiteMissing'
  | 'NodeBusy'
  | 'ImageBuildFailed';

export class ControlPlaneError extends KvsyncError<ControlPlaneFailure> {
  override readonly name = 'ControlPlaneError';
}

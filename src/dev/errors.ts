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

export class ControlPlaneError extends Error {
  override readonly name = 'ControlPlaneError';
  readonly reason: ControlPlaneFailure;

  constructor(reason: ControlPlaneFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * What the reconciler needs from `src/keyvault`: credential, fetch, render. Declared here as the
 * smallest structural subset of the keyvault engineer's contract (DESIGN issue 4), so the reconciler
 * can be unit-tested with a stand-in and `startController` wires in the real implementation.
 */
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, ResolvedObject } from '../api/index.ts';

/** Reasons a sync can fail; a superset of keyvault's SyncFailureReason plus the writer's own. */
export type FailureReason =
  | 'VaultAccessDenied'
  | 'ObjectNotFound'
  | 'ObjectDisabled'
  | 'InvalidCertificate'
  | 'KeyMismatch'
  | 'IdentityNotPermitted'
  | 'IdentityNotFound'
  | 'AuthenticationFailed'
  | 'Throttled'
  | 'VaultUnreachable'
  | 'InvalidSpec'
  | 'SecretConflict'
  | 'SecretTooLarge'
  | 'WriteFailed'
  | 'InternalError';

/** keyvault's SyncError, structurally: a message naming the object, never a value. */
export interface SyncFailure {
  readonly reason: string;
  readonly message: string;
  readonly object?: string | undefined;
  readonly retryAfterMs?: number | undefined;
}

export interface PipelineFetchedObject {
  object: ResolvedObject;
  version: string;
  contentType: string | undefined;
  updatedOn: Date | undefined;
  expiresOn: Date | undefined;
  /** 0 (or absent) = the current or pinned version; 1.. = older versions (objectVersionHistory). */
  historyIndex?: number;
}

export interface PipelineFetchResult<F extends PipelineFetchedObject = PipelineFetchedObject> {
  fetched: F[];
  /** Failures of required and optional objects alike; optional ones are tolerated by the reconciler. */
  failures: SyncFailure[];
}

export interface DesiredSecret {
  name: string;
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationPolicy: 'Owner' | 'Merge' | 'Orphan';
  data: Record<string, Buffer>;
}

export interface DesiredConfigMap {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationPolicy: 'Owner' | 'Merge' | 'Orphan';
  data: Record<string, string>;
}

export interface RenderedOutputs {
  secrets: DesiredSecret[];
  configMaps: DesiredConfigMap[];
}

/** The three steps of one sync, bound to an Azure environment and credential cache. */
export interface SyncPipeline {
  /** Throws a SyncFailure-shaped error (IdentityNotPermitted, AuthenticationFailed, …). */
  credentialFor(sync: ResolvedKeyVaultSync, ctx: { namespace: string; identities: ResolvedKeyVaultIdentity[] }): Promise<{ credential: unknown; identityKey: string }>;
  fetchObjects(sync: ResolvedKeyVaultSync, credential: unknown): Promise<PipelineFetchResult>;
  /** Throws a SyncFailure-shaped error (KeyMismatch, InvalidCertificate, …). */
  renderOutputs(sync: ResolvedKeyVaultSync, fetched: PipelineFetchedObject[]): RenderedOutputs;
}

/** True for an error carrying a `reason` string, i.e. keyvault's SyncError, PkiError, InvalidSpecError, ours. */
export function isSyncFailure(err: unknown): err is SyncFailure & Error {
  return err instanceof Error && typeof (err as { reason?: unknown }).reason === 'string';
}

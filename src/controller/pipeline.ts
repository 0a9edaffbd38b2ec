/**
 * What the reconciler needs from `src/keyvault`: credential, fetch, render, as the smallest
 * structural subset of it, so the reconciler can be unit-tested with a stand-in while
 * `startController` wires in the real implementation (keyvault-pipeline.ts). The output types are
 * keyvault's own.
 */
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, ResolvedObject } from '../api/index.ts';
import type { SyncFailureReason } from '../keyvault/errors.ts';
import type { DesiredConfigMap, DesiredSecret } from '../keyvault/outputs.ts';

/** Reasons a sync can fail: keyvault's, plus the writer's own. */
export type FailureReason = SyncFailureReason | 'SecretConflict' | 'SecretTooLarge' | 'WriteFailed' | 'InternalError';

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

export type { DesiredConfigMap, DesiredSecret };

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
  /** Enabled versions of one object (metadata only), for newer-version warnings; absent = not checked. @throws */
  listVersions?(sync: ResolvedKeyVaultSync, credential: unknown, object: ResolvedObject): Promise<{ version: string; createdOn: Date | undefined }[]>;
}

/** True for an error carrying a `reason` string, i.e. keyvault's SyncError, PkiError, InvalidSpecError, ours. */
export function isSyncFailure(err: unknown): err is SyncFailure & Error {
  return err instanceof Error && typeof (err as { reason?: unknown }).reason === 'string';
}

/**
 * What the reconciler needs from `src/keyvault`: credential, fetch, render, as the smallest
 * structural subset of it, so the reconciler can be unit-tested with a stand-in while
 * `startController` wires in the real implementation (KeyVaultPipeline, src/keyvault/pipeline.ts).
 * The output types are keyvault's own.
 */
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, ResolvedObject } from '../api/index.ts';
import type { SyncFailureReason } from '../keyvault/errors.ts';
import type { DesiredConfigMap, DesiredSecret, RenderedOutputs } from '../keyvault/outputs.ts';
import type { FetchMode } from '../keyvault/pipeline.ts';
import type { VaultWait } from '../keyvault/vault-guard.ts';
import type { VersionStamp } from '../keyvault/versions.ts';

/** keyvault's SyncError, structurally: a message naming the object, never a value. */
export interface SyncFailure {
  readonly reason: SyncFailureReason;
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
  /** Set when the vault made the fetch wait long (request budget, Retry-After). */
  throttled?: VaultWait | undefined;
  /** The KeyVaultSync with its object selectors expanded: what to render (unset: the spec as parsed). */
  sync?: ResolvedKeyVaultSync | undefined;
}

export type { DesiredConfigMap, DesiredSecret, FetchMode, RenderedOutputs, VaultWait };

/** A credential and the key of the identity it belongs to, as `credentialFor` returns them. */
export interface VaultAuth {
  credential: unknown;
  /** Equal keys are the same identity: reads may be shared between their KeyVaultSyncs. */
  identityKey: string;
}

/**
 * The steps of one sync, bound to an Azure environment and credential cache, and (optional) the
 * change-detection hooks the controller wires to its queue.
 */
export interface SyncPipeline {
  /** Throws a SyncError (IdentityNotPermitted, AuthenticationFailed, …). */
  credentialFor(sync: ResolvedKeyVaultSync, ctx: { namespace: string; identities: ResolvedKeyVaultIdentity[] }): Promise<VaultAuth>;
  /** Fetches the KeyVaultSync's objects with the credential and identity `credentialFor` returned. */
  fetchShared(sync: ResolvedKeyVaultSync, auth: VaultAuth, mode?: FetchMode): Promise<PipelineFetchResult>;
  /** Throws a SyncError (KeyMismatch, InvalidCertificate, …). */
  renderOutputs(sync: ResolvedKeyVaultSync, fetched: PipelineFetchedObject[]): RenderedOutputs;
  /** Versions of one object (metadata only), for newer-version warnings; absent = not checked. @throws */
  listVersions?(sync: ResolvedKeyVaultSync, credential: unknown, object: ResolvedObject): Promise<VersionStamp[]>;
  /** The version Key Vault says is current (the unversioned read). @throws */
  currentVersion?(sync: ResolvedKeyVaultSync, credential: unknown, object: ResolvedObject): Promise<string>;
  /** The KeyVaultSync `namespace/name` is gone: stop watching its objects. */
  forgetSync?(namespace: string, name: string): void;
  /**
   * Push refresh entry point (the Event Grid endpoint calls it for `SecretNewVersionCreated` /
   * `CertificateNewVersionCreated`): `vaultUrl` is the event's vault URL (matched by host name),
   * `objectName` the secret or certificate name, `version` the new version if the event names it.
   * Drops the kept reads of the object for every identity (unless `version` is the one already read)
   * and returns the keys (`namespace/name`) of the KeyVaultSyncs using it; the caller enqueues them
   * (not fresh: their next fetch reads the object once, shared). Never throws; [] when nothing uses it.
   */
  markChanged?(vaultUrl: string, objectName: string, version?: string): string[];
  /** Subscribes to keys of KeyVaultSyncs whose objects changed (found by polling); returns the unsubscribe. */
  onObjectsChanged?(listener: (syncKeys: string[]) => void): () => void;
  /**
   * Stops every change detector and forgets what they knew (leadership lost); fetches made later start
   * them again, so the next KeyVaultSync reconciled after regaining leadership re-registers.
   */
  stopChangeDetection?(): void;
  /** Stops background work (change detection, decode workers) for good. */
  close?(): void;
  /** Bytes of the reads kept by the object cache (the `kvsync_object_cache_bytes` gauge). */
  readonly objectCacheBytes?: number;
}

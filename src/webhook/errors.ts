/**
 * Errors of the pod webhook. A {@link PodDeniedError} becomes an AdmissionReview denial whose message
 * the user sees in `kubectl` / the ReplicaSet's events; a {@link WebhookCertificateError} is a
 * failure to obtain or publish the webhook's own serving certificate. Messages name KeyVaultSyncs,
 * aliases, namespaces and Secrets only — never a value, token or key.
 */
import { KvsyncError } from '../util/errors.ts';

export type PodDeniedReason =
  /** A referenced KeyVaultSync does not exist in the pod's namespace. */
  | 'KeyVaultSyncNotFound'
  /** A reference points at another namespace. */
  | 'CrossNamespaceReference'
  /** The KeyVaultSync exists but its spec does not parse. */
  | 'KeyVaultSyncInvalid'
  /** The KeyVaultSync has no Secret entry for the alias / key. */
  | 'AliasNotFound'
  /** A malformed `kvsync:` value or annotation. */
  | 'InvalidReference'
  /** The mount cannot be added (path clash, container name too long). */
  | 'MountConflict'
  /** The sidecar would have no identity it can use (no federated client ID, servicePrincipal, no KeyVaultIdentity). */
  | 'IdentityUnavailable'
  /** The KeyVaultIdentity does not grant this namespace or vault. */
  | 'IdentityNotGranted'
  /** A Secret of the KeyVaultSync exists but kvsync did not create it for that KeyVaultSync (a look-alike). */
  | 'SecretNotOwned';

export class PodDeniedError extends KvsyncError<PodDeniedReason> {
  override readonly name = 'PodDeniedError';
}

export type WebhookCertificateReason = 'CertificateSecretInvalid' | 'CertificateFilesUnreadable' | 'CaBundlePatchFailed' | 'Conflict';

export class WebhookCertificateError extends KvsyncError<WebhookCertificateReason> {
  override readonly name = 'WebhookCertificateError';
  constructor(reason: WebhookCertificateReason, message: string, cause?: unknown) {
    super(reason, message, { cause });
  }
}

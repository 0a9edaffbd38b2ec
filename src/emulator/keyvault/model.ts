/**
 * The stored state of one emulated vault. Everything is kept relative (names, versions); ids are built
 * per request from its scheme, host and port. Times are unix seconds from the emulator's Clock.
 * The whole state is plain JSON (binary fields base64) so that `--data FILE` can persist it.
 */

export interface ObjectAttributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  attributes: ObjectAttributes;
  tags?: Record<string, string>;
  /** Set for a certificate's backing secret. */
  managed?: boolean;
  /** Backing key of a certificate secret: `{name}/{version}` under /keys. */
  keyRef?: string;
}

export interface KeyVersion {
  version: string;
  /** The key type exactly as requested (`RSA`, `RSA-HSM`, `EC`, …). */
  kty: string;
  keyOps: string[];
  /** PKCS#8 DER, base64. */
  pkcs8: string;
  attributes: ObjectAttributes & { exportable?: boolean };
  tags?: Record<string, string>;
  managed?: boolean;
}

/** Key Vault's certificate policy in wire format (snake_case), minus `id`. */
export interface CertificatePolicyWire {
  key_props: { exportable?: boolean; kty?: string; key_size?: number; reuse_key?: boolean; crv?: string };
  secret_props: { contentType: string };
  x509_props: {
    subject?: string;
    sans?: { emails?: string[]; dns_names?: string[]; upns?: string[]; ip_addresses?: string[]; uris?: string[] };
    ekus?: string[];
    key_usage?: string[];
    validity_months?: number;
    basic_constraints?: { ca: boolean };
  };
  lifetime_actions: Array<{ trigger: { lifetime_percentage?: number; days_before_expiry?: number }; action: { action_type: string } }>;
  issuer: { name: string; cty?: string; cert_transparency?: boolean };
  attributes: { enabled: boolean; created: number; updated: number };
}

export interface CertificateVersion {
  version: string;
  /** Leaf certificate DER, base64. */
  cer: string;
  /** Chain above the leaf (DER base64, leaf-most first). */
  chain: string[];
  attributes: ObjectAttributes;
  tags?: Record<string, string>;
}

export interface PendingOperation {
  requestId: string;
  issuerName: string;
  /** PKCS#10 request DER, base64. */
  csr: string;
  status: 'inProgress' | 'completed' | 'failed';
  /** Whether a client has already seen the `inProgress` answer (the emulator completes on the next poll). */
  reportedInProgress: boolean;
  error?: { code: string; message: string };
  /** While `inProgress`: when (emulator clock, unix seconds) the version is stored, and what it will be. */
  completesAt?: number;
  issued?: PendingIssue;
}

/** A certificate version issued but not yet stored (the pending phase); binary fields base64. */
export interface PendingIssue {
  /** Leaf first, then the chain (DER). */
  certsDer: string[];
  /** PKCS#8 DER of the private key. */
  pkcs8?: string;
  secretValue: string;
  notBefore: number;
  notAfter: number;
  /** The create request's `attributes` and `tags`, applied when the version is stored. */
  request: { attributes?: unknown; tags?: unknown };
}

export interface DeletionInfo {
  deletedDate: number;
  scheduledPurgeDate: number;
}

export interface SecretEntry {
  name: string;
  versions: SecretVersion[];
  deleted?: DeletionInfo;
}

export interface KeyEntry {
  name: string;
  versions: KeyVersion[];
  deleted?: DeletionInfo;
}

export interface CertificateEntry {
  name: string;
  versions: CertificateVersion[];
  policy: CertificatePolicyWire;
  pending?: PendingOperation;
  deleted?: DeletionInfo;
}

export interface VaultState {
  name: string;
  secrets: Record<string, SecretEntry>;
  keys: Record<string, KeyEntry>;
  certificates: Record<string, CertificateEntry>;
}

export const RECOVERY_LEVEL = 'Recoverable+Purgeable';
export const RECOVERABLE_DAYS = 90;

export function emptyVault(name: string): VaultState {
  return { name, secrets: {}, keys: {}, certificates: {} };
}

/** Object names are case-insensitive in Key Vault; entries are keyed by the lower-cased name. */
export const nameKey = (name: string): string => name.toLowerCase();

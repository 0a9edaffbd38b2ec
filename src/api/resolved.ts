/**
 * The normalised form of a KeyVaultSync that the controller, `kvsync render` and `kvsync mount`
 * consume: every default applied, CSI parameters merged in, vault URL and identity resolved, and
 * every output key decided.
 */
import type { CloudName } from './cloud.ts';
import type { CreationPolicy, DeletionPolicy, KeyFormat, ObjectEncoding, ObjectFormat, ObjectType, SplitFormat } from './keyvaultsync-schema.ts';
import type { RestartTarget, SelectorType } from './keyvaultsync-schema.ts';
import type { ParsedTemplate } from './template.ts';

export interface ResolvedVault {
  /**
   * The vault's canonical URL (`https://host[:port]`, lower-case host, no path, no default port; the
   * emulator's port applied): the one identity of the vault for grants, requests and cache keys.
   */
  url: string;
  /** Vault name when known (spec.vault.name or parameters.keyvaultName). */
  name: string | undefined;
  tenantID: string | undefined;
  cloudName: CloudName;
}

/**
 * How to authenticate. For podIdentity/managedIdentity the controller must find the KeyVaultIdentity:
 * by `identityRef`, or (CSI migration, no ref) the one of that type that grants the namespace and
 * vault and, when `clientID` is set, has that client ID. It must also check that a referenced
 * identity's client ID equals `clientID` when both are set.
 */
export type ResolvedIdentity =
  | { mode: 'workloadIdentity'; serviceAccountName: string; clientID: string | undefined }
  | { mode: 'podIdentity' | 'managedIdentity'; identityRef: string | undefined; clientID: string | undefined }
  | { mode: 'servicePrincipal'; secretName: string; clientIDKey: string; clientSecretKey: string };

export interface ResolvedObject {
  /** Name in the vault. */
  name: string;
  /**
   * secret | certificate | cert | key. A `secret` whose content type turns out to be
   * application/x-pkcs12 or application/x-pem-file is a certificate's backing secret (CSI semantics).
   */
  type: ObjectType;
  /** alias ?? name: file name, default output key, what data entries refer to. */
  outputName: string;
  /** Pinned version, or undefined for the current one. */
  version: string | undefined;
  /** Versions to fetch, newest first; 1 = current only. */
  versionHistory: number;
  encoding: ObjectEncoding;
  format: ObjectFormat;
  optional: boolean;
  /** File mode, e.g. 0o644. */
  filePermission: number;
  split: SplitFormat | undefined;
  /** Where it was declared; `select`: found by a selector in the vault's listing (selection.ts). */
  source: 'objects' | 'parameters' | 'select';
}

/**
 * What goes under a key: `content` is the object as a mounted file would hold it (after encoding and
 * format); `tls.crt` the leaf then intermediates (root per includeRoot); `tls.key` the private key
 * (per keyFormat); `ca.crt` the issuing chain.
 */
export type OutputPart = 'content' | 'tls.crt' | 'tls.key' | 'ca.crt';

export type ResolvedDataEntry =
  | { kind: 'key'; key: string; object: string; part: OutputPart }
  /** Every property of a split object, each under its own name. */
  | { kind: 'split'; object: string }
  /** A key built from a template over the `content` of the objects it names (`template.objects`). */
  | { kind: 'template'; key: string; template: ParsedTemplate };

export interface ResolvedTlsOptions {
  includeRoot: boolean;
  caCert: boolean;
  keyFormat: KeyFormat;
}

export interface ResolvedSecretOutput {
  name: string;
  /** The Secret type, as the spec gives it (any type but the protected ones). */
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationPolicy: CreationPolicy;
  /** Set for kubernetes.io/tls secrets only. */
  tls: ResolvedTlsOptions | undefined;
  entries: ResolvedDataEntry[];
  /** Selectors of many objects (absent: none); expanded into objects and entries before each fetch (selection.ts). */
  selectors?: ResolvedSelector[];
}

export interface ResolvedSelector {
  type: SelectorType;
  /** Glob (`*`, `?`), case-insensitive, matched against the whole name; undefined = any name. */
  namePattern: string | undefined;
  tags: Record<string, string>;
  keyPrefix: string;
}

export interface ResolvedConfigMapOutput {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationPolicy: CreationPolicy;
  /** Only public material: `tls.crt`/`ca.crt` of certificates, `content` of cert and key objects. */
  entries: { key: string; object: string; part: 'content' | 'tls.crt' | 'ca.crt' }[];
}

export interface ResolvedKeyVaultSync {
  name: string | undefined;
  namespace: string | undefined;
  generation: number | undefined;
  vault: ResolvedVault;
  identity: ResolvedIdentity;
  objects: ResolvedObject[];
  secrets: ResolvedSecretOutput[];
  configMaps: ResolvedConfigMapOutput[];
  /**
   * What becomes of kvsync's outputs when the KeyVaultSync is deleted or an output leaves the spec.
   * Under Retain every output's `creationPolicy` Owner is already resolved to Orphan (no owner
   * reference, so the garbage collector leaves it).
   */
  deletionPolicy: DeletionPolicy;
  /** Milliseconds between refreshes (before jitter); 0 = fetch once. */
  refreshIntervalMs: number;
  restartTargets: RestartTarget[];
  /**
   * The spec reads `<output name>.crt` / `<output name>.key`, the separate files the CSI provider writes
   * with `--write-cert-and-key-in-separate-files`: it comes from a cluster where the provider wrote
   * them for every certificate, so `kvsync mount` writes them too.
   */
  separateCertKeyFiles?: true;
}

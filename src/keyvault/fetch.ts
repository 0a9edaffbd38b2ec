/**
 * Fetches a KeyVaultSync's objects from Key Vault with a credential (see credentials.ts).
 *
 * Per object type (CSI semantics):
 * - `secret`: the secret's value (current or pinned version). A secret whose content type is
 *   application/x-pkcs12 or application/x-pem-file is a certificate's backing secret and is handled
 *   as a `certificate`.
 * - `certificate`: read through the backing secret → TlsBundle (src/pki). When the secret cannot be
 *   read (403: the identity may read certificates but not secrets), falls back to the public `cer`, which
 *   can feed `tls.crt` / `ca.crt` only.
 * - `cert`: the public certificate only (`getCertificate` → `cer`).
 * - `key`: the public key as PEM (SPKI) from the key's JWK.
 * `versionHistory > 1` reads the current version (index 0: what Key Vault answers to the unversioned GET),
 * or the pinned one, lists the versions (versions.ts) and reads the newest N-1 others created before it
 * (index 1.. = older), as the CSI provider counts them.
 *
 * Key Vault clients come from the caller's KeyVaultAccess (access.ts): built once per (credential, vault
 * URL) with the environment's agent/CA, the SDK's challenge-resource verification ON, and a deadline on
 * every attempt (request-deadline.ts). Material stays in memory only.
 */
import { createPublicKey } from 'node:crypto';
import type { JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import type { JsonWebKey as KvJsonWebKey } from '@azure/keyvault-keys';
import type { TokenCredential } from '@azure/identity';
import type { ResolvedKeyVaultSync, ResolvedObject } from '../api/resolved.ts';
import { bundleFromFile, CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12 } from '../pki/bundle.ts';
import type { TlsBundle } from '../pki/bundle.ts';
import type { AzureEnvironment } from './azure-environment.ts';
import { DecoderBusyError } from '../pki/decode-pool.ts';
import { isPkiError, type PkiError } from '../pki/errors.ts';
import { bundleBytes, decodeInProcess, type DecodeRequest } from './bundle-cache.ts';
import { SyncError, toSyncError } from './errors.ts';
import type { KeyVaultAccess, VaultClients } from './access.ts';
import type { ObjectCache } from './object-cache.ts';
import { LIST_PAGE_SIZE, listObjectVersions, olderVersions, type ObjectVersion, type VersionStamp } from './versions.ts';

/** What was fetched for an object. */
export type FetchedMaterial =
  /**
   * A plain secret: its value as Key Vault stores it (a string). `decoded` is its certificate bundle
   * (or why it is none) when the KeyVaultSync writes it as tls.crt / tls.key / ca.crt.
   */
  | { kind: 'secret'; value: string; decoded?: DecodedSecret }
  /**
   * A certificate: `bundle` built with the defaults (PKCS#8 key, no root); `secretValue` and
   * `contentType` keep the backing secret so outputs can rebuild it with other options. Without
   * `secretValue` (public `cer` only) the bundle has no private key.
   */
  | { kind: 'certificate'; bundle: TlsBundle; secretValue: string | undefined }
  /** A key's public half, PEM (SPKI). */
  | { kind: 'publicKey'; pem: string };

/** A secret's value decoded as a certificate bundle, or the reason it is none. */
export type DecodedSecret = { bundle: TlsBundle } | { error: PkiError };

/** Decodes a certificate's content (bundle-cache.ts: kept per version, perhaps in a worker). */
export type BundleDecoder = (req: DecodeRequest) => Promise<TlsBundle>;

/** Decodes in this thread, every time. */
const decodeUncached: BundleDecoder = (req) => decodeInProcess(req.value, req.contentType, req.owner);

export interface FetchedObject {
  object: ResolvedObject;
  version: string;
  contentType: string | undefined;
  updatedOn: Date | undefined;
  expiresOn: Date | undefined;
  /** When Key Vault answered the read, on Key Vault's clock (its `Date` header); unset without one. */
  answeredOn?: Date | undefined;
  /** 0 = the current (or pinned) version; 1.. = older versions with `versionHistory`. */
  historyIndex: number;
  material: FetchedMaterial;
}

export interface FetchResult {
  fetched: FetchedObject[];
  /** Failures of required objects, and of optional ones (flagged `optional: true`). */
  failures: SyncError[];
}

export interface FetchOptions {
  /** The clients, guards and request metrics the requests go through. */
  access: KeyVaultAccess;
  /** Objects fetched at once; default 4. */
  concurrency?: number;
  /** Retries of the SDK per request (429 with Retry-After, 5xx, network); default 2. */
  maxRetries?: number;
  /** Decodes certificate content; default: in this thread, uncached. */
  decode?: BundleDecoder;
  /**
   * Shares reads between fetches (object-cache.ts): each (vault, object, version, identity) is read once
   * per flight / TTL. `identityKey` must be the CredentialProvider's key of `credential`.
   */
  cache?: {
    objects: ObjectCache<CachedRead>;
    identityKey: string;
    /**
     * Results of reads started at or before this time (the cache's clock) are not used for the current
     * version of an object (or its version list); per object when a function, `undefined` = any kept read.
     */
    notReadBefore?: number | ((object: ResolvedObject) => number | undefined);
    /** Told of every read of an object's current version (or version list) this fetch really made. */
    onRead?: (object: ObjectRef, read: CurrentVersion, startedAt: number) => void;
  };
}

/** What names an object in a vault. */
export type ObjectRef = Pick<ResolvedObject, 'type' | 'name'>;

/**
 * The current version of an object as a read or a listing shows it (`updatedOn` has Key Vault's
 * one-second resolution). `version` is unknown in list pages (versionless ids).
 */
export interface CurrentVersion {
  version: string | undefined;
  updatedOn: Date | undefined;
  enabled: boolean;
  /** A read's answer time on Key Vault's clock (its `Date` header), to compare with `updatedOn`. */
  answeredOn?: Date | undefined;
}

/** One entry of a listing: the current version's stamp, and what object selectors match on. */
export interface ListedVersion extends CurrentVersion {
  /** The name as Key Vault spells it. */
  name: string;
  tags: Readonly<Record<string, string>>;
  contentType: string | undefined;
  /** True for a certificate's backing secret (or key). */
  managed: boolean;
}

/** What the object cache keeps: one read version, or the listing of an object's versions. */
export type CachedRead = FetchedVersion | { versions: VersionStamp[] };

/** Bytes a kept read holds, roughly: its strings (value, PEM text, versions) plus a fixed overhead. */
export function cachedReadBytes(read: CachedRead): number {
  const overhead = 256;
  if ('versions' in read) return overhead + read.versions.reduce((n, v) => n + v.version.length + 48, 0);
  const m = read.material;
  const material = m.kind === 'publicKey' ? m.pem.length : m.kind === 'secret' ? m.value.length : (m.secretValue?.length ?? 0) + bundleBytes(m.bundle);
  return overhead + read.version.length + (read.contentType?.length ?? 0) + material;
}

const CERT_CONTENT_TYPES = new Set([CONTENT_TYPE_PKCS12, CONTENT_TYPE_PEM]);

/** True for the content types of a certificate's backing secret. */
export function isCertificateContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && CERT_CONTENT_TYPES.has(contentType.split(';')[0]?.trim().toLowerCase() ?? '');
}

/**
 * Fetches every object of `sync`. Never throws for a vault or object failure: each is returned in
 * `failures` as a SyncError naming the vault and object (optional objects' failures flagged).
 */
export async function fetchObjects(sync: ResolvedKeyVaultSync, credential: TokenCredential, env: AzureEnvironment, opts: FetchOptions): Promise<FetchResult> {
  const vaultUrl = sync.vault.url;
  let clients: VaultClients;
  try {
    clients = opts.access.clientsFor(vaultUrl, credential, env, opts.maxRetries ?? 2);
  } catch (err) {
    const failure = toSyncError(err, { vault: vaultUrl, object: 'the vault' });
    return { fetched: [], failures: sync.objects.map((o) => (o.optional ? failure.asOptional() : failure)) };
  }
  const cache = opts.cache;
  const decode = versionDecoder(vaultUrl, sync.namespace ?? '', opts.decode);
  const notReadBefore = (object: ResolvedObject): { notReadBefore?: number } => {
    const t = typeof cache?.notReadBefore === 'function' ? cache.notReadBefore(object) : cache?.notReadBefore;
    return t === undefined ? {} : { notReadBefore: t };
  };
  const read: ReadVersion =
    cache === undefined
      ? (object, version) => fetchVersion(clients, object, version, decode)
      : async (object, version) => {
          const load = async (startedAt: number): Promise<FetchedVersion> => {
            const v = await fetchVersion(clients, object, version, decode);
            if (version === undefined) {
              cache.onRead?.(object, { version: v.version, updatedOn: v.updatedOn, answeredOn: v.answeredOn, enabled: true }, startedAt);
              // The current version is also that version, pinned (objectVersionHistory, pins of it).
              if (v.version !== '') cache.objects.seed({ vaultUrl, type: object.type, name: object.name, version: v.version, identityKey: cache.identityKey }, v, startedAt);
            }
            return v;
          };
          const got = await cache.objects.get({ vaultUrl, type: object.type, name: object.name, version, identityKey: cache.identityKey }, load, notReadBefore(object));
          if ('versions' in got) throw new Error('object cache: a version list where a version was expected');
          return got;
        };
  const versionsOf: ListVersions =
    cache === undefined
      ? (object) => listObjectVersions(clients, object)
      : async (object) => {
          const load = async (): Promise<CachedRead> => ({ versions: await listObjectVersions(clients, object) });
          // Its own cache type: invalidated with the object's name, never mistaken for a value.
          const got = await cache.objects.get({ vaultUrl, type: `${object.type}/versions`, name: object.name, version: undefined, identityKey: cache.identityKey }, load, notReadBefore(object));
          if (!('versions' in got)) throw new Error('object cache: a version where a version list was expected');
          return got.versions;
        };
  const vault = sync.vault.name ?? sync.vault.url;
  const asTls = outputsWrittenAsTls(sync);
  const withBundle = async (f: FetchedObject): Promise<FetchedObject> => {
    const m = f.material;
    if (m.kind !== 'secret' || !asTls.has(f.object.outputName)) return f;
    let decoded: DecodedSecret;
    try {
      decoded = { bundle: await decode(f.object.name, f.version, m.value, f.contentType) };
    } catch (err) {
      if (!isPkiError(err)) throw err;
      decoded = { error: err };
    }
    return { ...f, material: { ...m, decoded } };
  };
  const fetched: FetchedObject[] = [];
  const failures: SyncError[] = [];
  const queue = [...sync.objects];
  const worker = async (): Promise<void> => {
    for (let object = queue.shift(); object !== undefined; object = queue.shift()) {
      try {
        fetched.push(...(await Promise.all((await fetchObject(object, read, versionsOf)).map(withBundle))));
      } catch (err) {
        const failure = toSyncError(err, { vault, object: `${object.type} "${object.name}"`, objectName: object.name });
        failures.push(object.optional ? failure.asOptional() : failure);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, sync.objects.length)) }, worker));
  // Keep the spec's order (workers finish in any order).
  const order = new Map(sync.objects.map((o, i) => [o, i]));
  fetched.sort((a, b) => (order.get(a.object) ?? 0) - (order.get(b.object) ?? 0) || a.historyIndex - b.historyIndex);
  return { fetched, failures };
}

type ReadVersion = (object: ResolvedObject, version: string | undefined) => Promise<FetchedVersion>;
/** Decodes one version's content of the named object. */
type VersionDecoder = (name: string, version: string, value: string, contentType: string | undefined) => Promise<TlsBundle>;

function versionDecoder(vaultUrl: string, owner: string, decode: BundleDecoder = decodeUncached): VersionDecoder {
  return (name, version, value, contentType) => decode({ vaultUrl, name, version, value, contentType, owner });
}

/** Output names the KeyVaultSync writes as tls.crt, tls.key or ca.crt (a secret there needs its bundle). */
function outputsWrittenAsTls(sync: ResolvedKeyVaultSync): Set<string> {
  const out = new Set<string>();
  for (const e of sync.secrets.flatMap((s) => s.entries)) if (e.kind === 'key' && e.part !== 'content') out.add(e.object);
  for (const e of sync.configMaps.flatMap((c) => c.entries)) if (e.part !== 'content') out.add(e.object);
  return out;
}
type ListVersions = (object: ResolvedObject) => Promise<VersionStamp[]>;

/**
 * The object's pinned or current version and, with `versionHistory > 1`, the newest older ones (for a
 * pinned version too: the CSI provider's objectVersionHistory counts back from objectVersion). The
 * current version is what Key Vault says it is (the unversioned read), never guessed from the listing:
 * Key Vault lists versions by version id, and `created` cannot order versions made in one second.
 */
async function fetchObject(object: ResolvedObject, read: ReadVersion, versionsOf: ListVersions): Promise<FetchedObject[]> {
  const current = { ...(await read(object, object.version)), object, historyIndex: 0 };
  if (object.versionHistory <= 1) return [current];
  const older = olderVersions(await versionsOf(object), current.version, object.versionHistory - 1);
  const results: FetchedObject[] = [current];
  for (const [i, version] of older.entries()) results.push({ ...(await read(object, version)), object, historyIndex: i + 1 });
  return results;
}

/** One version as read from Key Vault (what object-cache.ts keeps). */
export type FetchedVersion = Omit<FetchedObject, 'object' | 'historyIndex'>;
type Fetched = FetchedVersion;

/**
 * The current version of every secret (which covers `secret`, `certificate` and `cert` objects: a
 * certificate's versions are versions of its backing secret) or every key of the vault, by lower-case
 * name, from list pages of 25 (no value is read). Throws the SDK's error (403 when the identity may not
 * list).
 */
export async function listCurrentVersions(vaultUrl: string, credential: TokenCredential, env: AzureEnvironment, kind: 'secrets' | 'keys', opts: { access: KeyVaultAccess; maxRetries?: number }): Promise<Map<string, ListedVersion>> {
  const clients = opts.access.clientsFor(vaultUrl, credential, env, opts.maxRetries ?? 2);
  const out = new Map<string, ListedVersion>();
  const pages = kind === 'secrets' ? clients.secrets.listPropertiesOfSecrets().byPage({ maxPageSize: LIST_PAGE_SIZE }) : clients.keys.listPropertiesOfKeys().byPage({ maxPageSize: LIST_PAGE_SIZE });
  for await (const page of pages) {
    for (const p of page) {
      const contentType = 'contentType' in p ? p.contentType : undefined;
      out.set(p.name.toLowerCase(), { version: undefined, updatedOn: p.updatedOn, enabled: p.enabled !== false, name: p.name, tags: p.tags ?? {}, contentType, managed: p.managed === true });
    }
  }
  return out;
}

/**
 * Every version of an object (metadata only, pages of 25; see versions.ts for which endpoint lists
 * which type). Throws the SDK's error.
 */
export function listVersionsOf(vaultUrl: string, credential: TokenCredential, env: AzureEnvironment, object: ObjectRef, opts: { access: KeyVaultAccess; maxRetries?: number }): Promise<ObjectVersion[]> {
  return listObjectVersions(opts.access.clientsFor(vaultUrl, credential, env, opts.maxRetries ?? 2), object);
}

/** Reads one version (`undefined` = the current one) of an object, as `fetchObjects` does, uncached. */
export function readObjectVersion(vaultUrl: string, credential: TokenCredential, env: AzureEnvironment, object: ObjectRef, version: string | undefined, opts: { access: KeyVaultAccess; maxRetries?: number; decode?: BundleDecoder; owner?: string }): Promise<FetchedVersion> {
  return fetchVersion(opts.access.clientsFor(vaultUrl, credential, env, opts.maxRetries ?? 2), object, version, versionDecoder(vaultUrl, opts.owner ?? '', opts.decode));
}

/**
 * Collects the `Date` header of an SDK operation's answer (pass `onResponse` in its options): when Key
 * Vault answered, on Key Vault's clock, the only clock its `updated` and `created` stamps may be
 * compared with.
 */
function answerDate(): { onResponse: (raw: { headers: { get(name: string): string | undefined } }) => void; get(): Date | undefined } {
  let at: Date | undefined;
  return {
    onResponse: (raw) => {
      const header = raw.headers.get('date');
      const parsed = header === undefined ? Number.NaN : Date.parse(header);
      at = Number.isFinite(parsed) ? new Date(parsed) : undefined;
    },
    get: () => at,
  };
}

async function fetchVersion(clients: VaultClients, object: ObjectRef, version: string | undefined, decode: VersionDecoder): Promise<Fetched> {
  switch (object.type) {
    case 'secret':
    case 'certificate':
      return fetchThroughSecret(clients, object, version, decode);
    case 'cert':
      return fetchPublicCertificate(clients, object, version);
    case 'key':
      return fetchPublicKey(clients, object, version);
  }
}

/**
 * Refuses an answer that is not about the object asked for: its `id` names another vault (host and
 * port) or another object, or names a version other than the pinned one. Key Vault never answers like
 * that; a host that is not Key Vault might, and what it names would otherwise become a version in
 * status and a key of the shared object cache.
 */
function checkAnswerIdentity(vaultUrl: string, object: ObjectRef, version: string | undefined, answer: { vaultUrl?: string; name?: string; version?: string }): void {
  const host = (url: string | undefined): string | undefined => {
    try {
      return url === undefined ? undefined : new URL(url).host.toLowerCase();
    } catch {
      return undefined;
    }
  };
  const fault =
    host(answer.vaultUrl) !== host(vaultUrl)
      ? 'names another vault'
      : answer.name?.toLowerCase() !== object.name.toLowerCase()
        ? 'names another object'
        : version !== undefined && answer.version?.toLowerCase() !== version.toLowerCase()
          ? 'names another version'
          : undefined;
  if (fault !== undefined) throw new SyncError('InvalidResponse', `${object.type} "${object.name}": the vault's answer ${fault} in its id; kvsync does not use it`, { object: object.name });
}

async function fetchThroughSecret(clients: VaultClients, object: ObjectRef, version: string | undefined, decode: VersionDecoder): Promise<Fetched> {
  let secret;
  const answered = answerDate();
  try {
    secret = await clients.secrets.getSecret(object.name, version === undefined ? { onResponse: answered.onResponse } : { version, onResponse: answered.onResponse });
  } catch (err) {
    // A certificate whose secret the identity may not read (or a non-exportable key): public part only.
    if (object.type === 'certificate' && (err as { statusCode?: number }).statusCode === 403 && !/disabled/i.test(JSON.stringify((err as { details?: unknown }).details ?? ''))) {
      return fetchPublicCertificate(clients, object, version);
    }
    throw err;
  }
  const p = secret.properties;
  checkAnswerIdentity(clients.secrets.vaultUrl, object, version, p);
  if (typeof secret.value !== 'string') throw new SyncError('InvalidResponse', `${object.type} "${object.name}": the vault's answer has no value`, { object: object.name });
  const base = { version: p.version ?? version ?? '', contentType: p.contentType, updatedOn: p.updatedOn, expiresOn: p.expiresOn, answeredOn: answered.get() };
  const value = secret.value;
  if (object.type === 'certificate') {
    return { ...base, material: { kind: 'certificate', bundle: await decode(object.name, base.version, value, p.contentType), secretValue: value } };
  }
  if (isCertificateContentType(p.contentType)) {
    // A `secret` whose content type says "certificate": read it as one. If it does not parse, keep the
    // value as it is (what the CSI driver would mount); tls parts then fail at render with the PKI reason.
    try {
      return { ...base, material: { kind: 'certificate', bundle: await decode(object.name, base.version, value, p.contentType), secretValue: value } };
    } catch (err) {
      if (!isPkiError(err) || err instanceof DecoderBusyError) throw err;
      return { ...base, material: { kind: 'secret', value, decoded: { error: err } } };
    }
  }
  return { ...base, material: { kind: 'secret', value } };
}

async function fetchPublicCertificate(clients: VaultClients, object: ObjectRef, version: string | undefined): Promise<Fetched> {
  const answered = answerDate();
  const cert = version === undefined ? await clients.certificates.getCertificate(object.name, { onResponse: answered.onResponse }) : await clients.certificates.getCertificateVersion(object.name, version, { onResponse: answered.onResponse });
  if (cert.cer === undefined || cert.cer.length === 0) throw new SyncError('InvalidCertificate', `certificate "${object.name}" has no public certificate (cer)`, { object: object.name });
  const p = cert.properties;
  checkAnswerIdentity(clients.certificates.vaultUrl, object, version, p);
  return {
    version: p.version ?? version ?? '',
    contentType: undefined,
    updatedOn: p.updatedOn,
    expiresOn: p.expiresOn,
    answeredOn: answered.get(),
    material: { kind: 'certificate', bundle: bundleFromFile(Buffer.from(cert.cer)), secretValue: undefined },
  };
}

const b64url = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('base64url'));

/** SPKI PEM of a Key Vault JWK (RSA / RSA-HSM, EC / EC-HSM). */
export function publicKeyPemFromJwk(jwk: KvJsonWebKey, name: string): string {
  const kty = jwk.kty?.replace(/-HSM$/, '');
  let key: NodeJsonWebKey;
  if (kty === 'RSA') key = { kty: 'RSA', n: b64url(jwk.n), e: b64url(jwk.e) };
  else if (kty === 'EC') key = { kty: 'EC', crv: jwk.crv === 'P-256K' ? 'secp256k1' : jwk.crv, x: b64url(jwk.x), y: b64url(jwk.y) };
  else throw new SyncError('InvalidSpec', `key "${name}" is of type ${jwk.kty ?? 'unknown'}, which has no public key to export`, { object: name });
  return createPublicKey({ key, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
}

async function fetchPublicKey(clients: VaultClients, object: ObjectRef, version: string | undefined): Promise<Fetched> {
  const answered = answerDate();
  const key = await clients.keys.getKey(object.name, version === undefined ? { onResponse: answered.onResponse } : { version, onResponse: answered.onResponse });
  if (key.key === undefined) throw new SyncError('ObjectNotFound', `key "${object.name}" has no key material`, { object: object.name });
  const p = key.properties;
  checkAnswerIdentity(clients.keys.vaultUrl, object, version, p);
  return { version: p.version ?? version ?? '', contentType: undefined, updatedOn: p.updatedOn, expiresOn: p.expiresOn, answeredOn: answered.get(), material: { kind: 'publicKey', pem: publicKeyPemFromJwk(key.key, object.name) } };
}

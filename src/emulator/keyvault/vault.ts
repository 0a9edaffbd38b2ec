/**
 * One emulated vault: secrets, keys and certificates with versions, soft delete and the certificate
 * → secret + key coupling. Methods take the request's base URL (`https://<host>:<port>`) for ids and
 * return Key Vault's JSON bodies; failures throw `KeyVaultError` with Key Vault's status and codes.
 * Authorization is not done here (see http.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { KeyVaultEvent } from '../eventgrid/events.ts';
import { badParameter, CertificateMaterialError, KeyVaultError } from '../errors.ts';
import { generatePrivateKey, KEY_CURVES, keySpecFrom, privateKeyFromPkcs8Der, privateKeyToPkcs8Der } from '../pki/keys.ts';
import type { SigningIdentity } from '../pki/x509.ts';
import { issueCertificateVersion, issuedFrom, normalizePolicy, policyFromCertificate } from './certificates.ts';
import { parseImportedValue } from '../pki/pfx.ts';
import {
  RECOVERABLE_DAYS,
  nameKey,
  type CertificateEntry,
  type CertificatePolicyWire,
  type KeyEntry,
  type ObjectAttributes,
  type PendingIssue,
  type SecretEntry,
  type SecretVersion,
  type VaultState,
} from './model.ts';
import * as wire from './wire.ts';
import type { Json } from './wire.ts';

/** Key Vault's secret size limit. */
export const MAX_SECRET_BYTES = 25 * 1024;
const OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const FWLINK = 'For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

/** What the vault tells the Event Grid publisher when an object changes. */
export type VaultEvent = KeyVaultEvent;

export interface VaultDeps {
  clock: Clock;
  /** Configured test CA issuers by name (certificate policy `issuer.name`). */
  issuers: ReadonlyMap<string, SigningIdentity>;
  publish: (e: VaultEvent) => void;
  /** Called after every mutation (persistence). */
  onChange: () => void;
  /** `https://<name>.vault.azure.net:<port>`, used in events. */
  vaultUrl: () => string;
  /**
   * How long a created certificate version stays pending (seconds of the emulator clock); 0 = stored at
   * once, the operation reported `inProgress` only in the create answer. Default 0.
   */
  pendingSeconds?: () => number;
}

export function validateName(name: string): void {
  if (!OBJECT_NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}`);
}

const newVersion = (): string => randomUUID().replaceAll('-', '');

/** Key Vault lists an object's versions sorted by version id (not by creation), ascending. */
const byVersionId = <V extends { version: string }>(versions: readonly V[]): V[] => [...versions].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function optBool(o: Obj, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badParameter(`Property ${key} has invalid value`);
  return v;
}

function optSeconds(o: Obj, key: string): number | undefined | null {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badParameter(`Property ${key} has invalid value`);
  return Math.floor(v);
}

function tagsFrom(o: Obj): Record<string, string> | undefined {
  const t = o.tags;
  if (t === undefined || t === null) return undefined;
  if (!isObj(t)) throw badParameter('Property tags has invalid value');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(t)) {
    if (typeof v !== 'string') throw badParameter(`Tag ${k} has invalid value`);
    out[k] = v;
  }
  return out;
}

/** Applies `attributes` from a request body onto `target` (PATCH semantics: absent = unchanged, null = cleared). */
function applyAttributes(target: ObjectAttributes, body: Obj): void {
  const a = body.attributes;
  if (a === undefined || a === null) return;
  if (!isObj(a)) throw badParameter('Property attributes has invalid value');
  const enabled = optBool(a, 'enabled');
  if (enabled !== undefined) target.enabled = enabled;
  for (const key of ['nbf', 'exp'] as const) {
    const v = optSeconds(a, key);
    if (v === null) delete target[key];
    else if (v !== undefined) target[key] = v;
  }
}

const secretNotFound = (name: string, version?: string): KeyVaultError =>
  new KeyVaultError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. ${FWLINK}`,
  );
const keyNotFound = (name: string, version?: string): KeyVaultError =>
  new KeyVaultError(
    404,
    'KeyNotFound',
    `A key with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. ${FWLINK}`,
  );
const certificateNotFound = (name: string): KeyVaultError => new KeyVaultError(404, 'CertificateNotFound', `Certificate not found: ${name}`);
const deletedButRecoverable = (kind: 'Secret' | 'Certificate' | 'Key', name: string): KeyVaultError =>
  new KeyVaultError(
    409,
    'Conflict',
    `${kind} ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the ${kind.toLowerCase()} can only be recovered or purged.`,
    'ObjectIsDeletedButRecoverable',
  );

/** What a pending operation keeps of an issued version (plain JSON, so `--data` persists it). */
function pendingIssue(issued: ReturnType<typeof issuedFrom>, body: Obj): PendingIssue {
  return {
    certsDer: issued.certsDer.map((d) => d.toString('base64')),
    ...(issued.privateKey === undefined ? {} : { pkcs8: privateKeyToPkcs8Der(issued.privateKey).toString('base64') }),
    secretValue: issued.secretValue,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    request: { ...(body.attributes === undefined ? {} : { attributes: body.attributes }), ...(body.tags === undefined ? {} : { tags: body.tags }) },
  };
}

function issuedFromPending(p: PendingIssue, csr: string): ReturnType<typeof issuedFrom> {
  return {
    certsDer: p.certsDer.map((d) => Buffer.from(d, 'base64')),
    privateKey: p.pkcs8 === undefined ? undefined : privateKeyFromPkcs8Der(Buffer.from(p.pkcs8, 'base64')),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    secretValue: p.secretValue,
    csr,
  };
}

export class Vault {
  readonly state: VaultState;
  readonly #deps: VaultDeps;

  constructor(state: VaultState, deps: VaultDeps) {
    this.state = state;
    this.#deps = deps;
  }

  get name(): string {
    return this.state.name;
  }

  #now(): number {
    return this.#deps.clock.nowSeconds();
  }

  #changed(): void {
    this.#deps.onChange();
  }

  // ---------------------------------------------------------------- secrets

  #liveSecret(name: string): SecretEntry {
    const e = this.state.secrets[nameKey(name)];
    if (e === undefined || e.deleted !== undefined) throw secretNotFound(name);
    return e;
  }

  #secretVersion(e: SecretEntry, version: string | undefined): SecretVersion {
    const v = version ? e.versions.find((x) => x.version === version.toLowerCase()) : e.versions.at(-1);
    if (v === undefined) throw secretNotFound(e.name, version);
    return v;
  }

  /** Whether a live certificate owns the secret `name` (its managed secret). */
  isManagedSecret(name: string): boolean {
    const e = this.state.secrets[nameKey(name)];
    return e?.versions.at(-1)?.managed === true;
  }

  /** PUT /secrets/{name}: a new version. */
  setSecret(base: string, name: string, body: Obj): Json {
    validateName(name);
    const value = body.value;
    if (typeof value !== 'string') throw badParameter('Property value is required and must be a string.');
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) {
      throw badParameter(`Secret is beyond the maximum permitted length of ${MAX_SECRET_BYTES} characters.`);
    }
    const existing = this.state.secrets[nameKey(name)];
    if (existing?.deleted !== undefined) throw deletedButRecoverable('Secret', name);
    if (existing?.versions.at(-1)?.managed === true) {
      throw new KeyVaultError(403, 'Forbidden', `Operation set is not allowed on a managed secret: ${name}.`, 'ManagedObjectOperationNotAllowed');
    }
    const now = this.#now();
    const attributes: ObjectAttributes = { enabled: true, created: now, updated: now };
    applyAttributes(attributes, body);
    const contentType = body.contentType;
    if (contentType !== undefined && contentType !== null && typeof contentType !== 'string') throw badParameter('Property contentType has invalid value');
    const v: SecretVersion = { version: newVersion(), value, attributes };
    if (typeof contentType === 'string') v.contentType = contentType;
    const tags = tagsFrom(body);
    if (tags !== undefined) v.tags = tags;
    const entry = existing ?? { name, versions: [] };
    entry.versions.push(v);
    this.state.secrets[nameKey(name)] = entry;
    this.#changed();
    this.#deps.publish(this.#event('Microsoft.KeyVault.SecretNewVersionCreated', 'Secret', entry.name, v.version, v.attributes));
    return wire.secretBundle(base, entry, v, true);
  }

  /** GET /secrets/{name}/{version?} with the value. Disabled versions answer 403 SecretDisabled. */
  getSecret(base: string, name: string, version: string | undefined): Json {
    const e = this.#liveSecret(name);
    const v = this.#secretVersion(e, version);
    if (!v.attributes.enabled) throw new KeyVaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
    return wire.secretBundle(base, e, v, true);
  }

  /** PATCH /secrets/{name}/{version?}: enabled, nbf, exp, contentType, tags. Answers without the value. */
  updateSecret(base: string, name: string, version: string | undefined, body: Obj): Json {
    const e = this.#liveSecret(name);
    const v = this.#secretVersion(e, version);
    applyAttributes(v.attributes, body);
    if (typeof body.contentType === 'string') v.contentType = body.contentType;
    const tags = tagsFrom(body);
    if (tags !== undefined) v.tags = tags;
    v.attributes.updated = this.#now();
    this.#changed();
    return wire.secretBundle(base, e, v, false);
  }

  listSecrets(base: string, url: URL): Json {
    const items = Object.values(this.state.secrets)
      .filter((e) => e.deleted === undefined && e.versions.length > 0)
      .sort((a, b) => nameKey(a.name).localeCompare(nameKey(b.name)))
      .map((e) => wire.secretItem(base, e, e.versions.at(-1) as SecretVersion, false));
    return wire.page(items, url, base, '/secrets');
  }

  listSecretVersions(base: string, name: string, url: URL): Json {
    validateName(name);
    const e = this.state.secrets[nameKey(name)];
    const items = e === undefined || e.deleted !== undefined ? [] : byVersionId(e.versions).map((v) => wire.secretItem(base, e, v, true));
    return wire.page(items, url, base, `/secrets/${name}/versions`);
  }

  /** DELETE /secrets/{name}: soft delete. A certificate's secret can only go with its certificate. */
  deleteSecret(base: string, name: string): Json {
    const e = this.#liveSecret(name);
    if (e.versions.at(-1)?.managed === true) {
      throw new KeyVaultError(403, 'Forbidden', `Operation delete is not allowed on a managed secret: ${name}. Delete the certificate instead.`, 'ManagedObjectOperationNotAllowed');
    }
    e.deleted = this.#deletion();
    this.#changed();
    return wire.secretBundle(base, e, e.versions.at(-1) as SecretVersion, false);
  }

  #deletion(): { deletedDate: number; scheduledPurgeDate: number } {
    const now = this.#now();
    return { deletedDate: now, scheduledPurgeDate: now + RECOVERABLE_DAYS * 86400 };
  }

  #deletedSecret(name: string): SecretEntry {
    const e = this.state.secrets[nameKey(name)];
    if (e?.deleted === undefined) throw new KeyVaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
    return e;
  }

  getDeletedSecret(base: string, name: string): Json {
    const e = this.#deletedSecret(name);
    return wire.secretBundle(base, e, e.versions.at(-1) as SecretVersion, false);
  }

  listDeletedSecrets(base: string, url: URL): Json {
    const items = Object.values(this.state.secrets)
      .filter((e) => e.deleted !== undefined)
      .map((e) => wire.secretItem(base, e, e.versions.at(-1) as SecretVersion, false));
    return wire.page(items, url, base, '/deletedsecrets');
  }

  purgeDeletedSecret(name: string): void {
    const e = this.#deletedSecret(name);
    if (e.versions.at(-1)?.managed === true) {
      throw new KeyVaultError(403, 'Forbidden', `Operation purge is not allowed on a managed secret: ${name}.`, 'ManagedObjectOperationNotAllowed');
    }
    delete this.state.secrets[nameKey(name)];
    this.#changed();
  }

  recoverDeletedSecret(base: string, name: string): Json {
    const e = this.#deletedSecret(name);
    delete e.deleted;
    this.#changed();
    return wire.secretBundle(base, e, e.versions.at(-1) as SecretVersion, false);
  }

  // ---------------------------------------------------------------- keys

  #liveKey(name: string): KeyEntry {
    const e = this.state.keys[nameKey(name)];
    if (e === undefined || e.deleted !== undefined) throw keyNotFound(name);
    return e;
  }

  /** POST /keys/{name}/create */
  async createKey(base: string, name: string, body: Obj): Promise<Json> {
    validateName(name);
    const kty = typeof body.kty === 'string' ? body.kty : undefined;
    if (kty === undefined) throw badParameter('Property kty is required.');
    const spec = keySpecFrom(kty, typeof body.key_size === 'number' ? body.key_size : undefined, typeof body.crv === 'string' ? body.crv : undefined, KEY_CURVES);
    const existing = this.state.keys[nameKey(name)];
    if (existing?.deleted !== undefined) throw deletedButRecoverable('Key', name);
    if (existing?.versions.at(-1)?.managed === true) {
      throw new KeyVaultError(403, 'Forbidden', `Operation create is not allowed on a managed key: ${name}.`, 'ManagedObjectOperationNotAllowed');
    }
    const key = await generatePrivateKey(spec);
    const now = this.#now();
    const attributes: ObjectAttributes & { exportable?: boolean } = { enabled: true, created: now, updated: now, exportable: false };
    applyAttributes(attributes, body);
    const keyOps = Array.isArray(body.key_ops) && body.key_ops.every((o) => typeof o === 'string')
      ? (body.key_ops)
      : spec.family === 'RSA'
        ? ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']
        : ['sign', 'verify'];
    const entry = existing ?? { name, versions: [] };
    const v = { version: newVersion(), kty, keyOps, pkcs8: privateKeyToPkcs8Der(key).toString('base64'), attributes, ...(tagsFrom(body) ? { tags: tagsFrom(body) } : {}) };
    entry.versions.push(v);
    this.state.keys[nameKey(name)] = entry;
    this.#changed();
    return wire.keyBundle(base, entry, v);
  }

  getKey(base: string, name: string, version: string | undefined): Json {
    const e = this.#liveKey(name);
    const v = version ? e.versions.find((x) => x.version === version.toLowerCase()) : e.versions.at(-1);
    if (v === undefined) throw keyNotFound(name, version);
    return wire.keyBundle(base, e, v);
  }

  listKeys(base: string, url: URL): Json {
    const items = Object.values(this.state.keys)
      .filter((e) => e.deleted === undefined && e.versions.length > 0)
      .sort((a, b) => nameKey(a.name).localeCompare(nameKey(b.name)))
      .map((e) => wire.keyItem(base, e, e.versions.at(-1) as KeyEntry['versions'][number], false));
    return wire.page(items, url, base, '/keys');
  }

  /** DELETE /keys/{name}: soft delete. A certificate's key can only go with its certificate. */
  deleteKey(base: string, name: string): Json {
    const e = this.#liveKey(name);
    if (e.versions.at(-1)?.managed === true) {
      throw new KeyVaultError(403, 'Forbidden', `Operation delete is not allowed on a managed key: ${name}. Delete the certificate instead.`, 'ManagedObjectOperationNotAllowed');
    }
    e.deleted = this.#deletion();
    this.#changed();
    return wire.keyBundle(base, e, e.versions.at(-1) as KeyEntry['versions'][number]);
  }

  listKeyVersions(base: string, name: string, url: URL): Json {
    validateName(name);
    const e = this.state.keys[nameKey(name)];
    const items = e === undefined || e.deleted !== undefined ? [] : byVersionId(e.versions).map((v) => wire.keyItem(base, e, v, true));
    return wire.page(items, url, base, `/keys/${name}/versions`);
  }

  // ---------------------------------------------------------------- certificates

  #liveCertificate(name: string): CertificateEntry {
    const e = this.state.certificates[nameKey(name)];
    if (e === undefined || e.deleted !== undefined) throw certificateNotFound(name);
    return e;
  }

  #checkCertificateNameFree(name: string): CertificateEntry | undefined {
    validateName(name);
    const existing = this.state.certificates[nameKey(name)];
    if (existing?.deleted !== undefined) throw deletedButRecoverable('Certificate', name);
    const secret = this.state.secrets[nameKey(name)];
    if (existing === undefined && secret !== undefined) {
      throw new KeyVaultError(409, 'Conflict', `There is a secret with the name ${name} that is not managed by a certificate. Choose another certificate name.`);
    }
    return existing;
  }

  /** Stores an issued certificate as a new version of certificate, secret and key (one shared version id). */
  #storeVersion(name: string, policy: CertificatePolicyWire, issued: ReturnType<typeof issuedFrom>, body: Obj, existing: CertificateEntry | undefined, now = this.#now()): CertificateEntry {
    const version = newVersion();
    const certAttributes: ObjectAttributes = { enabled: true, nbf: issued.notBefore, exp: issued.notAfter, created: now, updated: now };
    applyAttributes(certAttributes, body);
    const tags = tagsFrom(body);
    const entry: CertificateEntry = existing ?? { name, versions: [], policy };
    entry.policy = policy;
    entry.versions.push({
      version,
      cer: issued.certsDer[0]?.toString('base64') ?? '',
      chain: issued.certsDer.slice(1).map((d) => d.toString('base64')),
      attributes: certAttributes,
      ...(tags === undefined ? {} : { tags }),
    });
    this.state.certificates[nameKey(name)] = entry;

    const secret: SecretEntry = this.state.secrets[nameKey(name)] ?? { name, versions: [] };
    secret.versions.push({
      version,
      value: issued.secretValue,
      contentType: policy.secret_props.contentType,
      attributes: { enabled: certAttributes.enabled, nbf: issued.notBefore, exp: issued.notAfter, created: now, updated: now },
      managed: true,
      keyRef: `${name}/${version}`,
      ...(tags === undefined ? {} : { tags }),
    });
    this.state.secrets[nameKey(name)] = secret;

    if (issued.privateKey !== undefined) {
      const key: KeyEntry = this.state.keys[nameKey(name)] ?? { name, versions: [] };
      key.versions.push({
        version,
        kty: policy.key_props.kty ?? 'RSA',
        keyOps: (policy.key_props.kty ?? 'RSA').startsWith('EC') ? ['sign', 'verify'] : ['sign', 'verify', 'wrapKey', 'unwrapKey', 'encrypt', 'decrypt'],
        pkcs8: privateKeyToPkcs8Der(issued.privateKey).toString('base64'),
        attributes: { enabled: certAttributes.enabled, nbf: issued.notBefore, exp: issued.notAfter, created: now, updated: now, exportable: policy.key_props.exportable !== false },
        managed: true,
        ...(tags === undefined ? {} : { tags }),
      });
      this.state.keys[nameKey(name)] = key;
    }
    this.#changed();
    const ev = { enabled: true, nbf: issued.notBefore, exp: issued.notAfter, created: now, updated: now };
    this.#deps.publish(this.#event('Microsoft.KeyVault.CertificateNewVersionCreated', 'Certificate', name, version, ev));
    this.#deps.publish(this.#event('Microsoft.KeyVault.SecretNewVersionCreated', 'Secret', name, version, ev));
    return entry;
  }

  /** POST /certificates/{name}/create: issued synchronously; the pending operation reports inProgress once. */
  async createCertificate(base: string, name: string, body: Obj): Promise<{ status: number; body: Json; location: string }> {
    const existing = this.#checkCertificateNameFree(name);
    if (!isObj(body.policy)) throw badParameter('Property policy is required.');
    const policy = normalizePolicy(body.policy, this.#now());
    const issuerName = policy.issuer.name;
    let issuer: SigningIdentity | undefined;
    if (issuerName.toLowerCase() !== 'self') {
      issuer = this.#deps.issuers.get(issuerName);
      if (issuer === undefined) {
        throw badParameter(`Issuer ${issuerName} is not supported by the emulator: use Self or a test CA issuer from its config (${[...this.#deps.issuers.keys()].join(', ')}).`);
      }
    }
    const previous = existing?.versions.at(-1);
    const reuseKey = policy.key_props.reuse_key === true && previous !== undefined ? this.state.keys[nameKey(name)]?.versions.at(-1) : undefined;
    const key = reuseKey === undefined
      ? await generatePrivateKey(keySpecFrom(policy.key_props.kty, policy.key_props.key_size, policy.key_props.crv))
      : privateKeyFromPkcs8Der(Buffer.from(reuseKey.pkcs8, 'base64'));
    const issued = await issueCertificateVersion(policy, key, issuer, new Date(this.#deps.clock.nowMs()));
    const requestId = newVersion();
    const pendingSeconds = Math.max(0, this.#deps.pendingSeconds?.() ?? 0);
    let entry: CertificateEntry;
    if (pendingSeconds === 0) {
      entry = this.#storeVersion(name, policy, issued, body, existing);
      entry.pending = { requestId, issuerName: policy.issuer.name, csr: issued.csr, status: 'completed', reportedInProgress: false };
    } else {
      // Issued now, stored when the pending phase ends (settlePending): until then readers see the
      // previous version, as on Key Vault, where a new version appears only once its operation completes.
      entry = existing ?? { name, versions: [], policy };
      entry.policy = policy;
      entry.pending = { requestId, issuerName: policy.issuer.name, csr: issued.csr, status: 'inProgress', reportedInProgress: false, completesAt: this.#now() + pendingSeconds, issued: pendingIssue(issued, body) };
      this.state.certificates[nameKey(name)] = entry;
    }
    this.#changed();
    const op = wire.pendingWire(base, entry.name, { ...entry.pending, status: 'inProgress' });
    const apiVersion = '7.5';
    return { status: 202, body: op, location: `${base}/certificates/${entry.name}/pending?api-version=${apiVersion}&request_id=${entry.pending.requestId}` };
  }

  /**
   * Stores the certificate versions whose pending phase has ended (emulator clock), each `created` at
   * the time it ended. Called before every request and by the periodic check.
   */
  settlePending(): void {
    const now = this.#now();
    for (const e of Object.values(this.state.certificates)) {
      const p = e.pending;
      if (p?.status !== 'inProgress' || p.issued === undefined || (p.completesAt ?? 0) > now || e.deleted !== undefined) continue;
      const issued = issuedFromPending(p.issued, p.csr);
      const request: Obj = {};
      if (p.issued.request.attributes !== undefined) request.attributes = p.issued.request.attributes;
      if (p.issued.request.tags !== undefined) request.tags = p.issued.request.tags;
      this.#storeVersion(e.name, e.policy, issued, request, e, p.completesAt ?? now);
      e.pending = { requestId: p.requestId, issuerName: p.issuerName, csr: p.csr, status: 'completed', reportedInProgress: p.reportedInProgress };
      this.#changed();
    }
  }

  /** GET /certificates/{name}/pending */
  getCertificateOperation(base: string, name: string): Json {
    const e = this.#liveCertificate(name);
    if (e.pending === undefined) throw new KeyVaultError(404, 'PendingCertificateNotFound', `Pending certificate not found: ${name}`);
    return wire.pendingWire(base, e.name, e.pending);
  }

  /** POST /certificates/{name}/import: PFX (base64, with or without `pwd`) or PEM. */
  importCertificate(base: string, name: string, body: Obj): Json {
    const existing = this.#checkCertificateNameFree(name);
    if (typeof body.value !== 'string' || body.value === '') throw badParameter('Property value is required.');
    const password = typeof body.pwd === 'string' ? body.pwd : undefined;
    let bundle: ReturnType<typeof parseImportedValue>;
    try {
      bundle = parseImportedValue(body.value, password);
    } catch (err) {
      if (err instanceof CertificateMaterialError) throw badParameter(`The specified PEM X.509 certificate content is in an unexpected format or the PKCS#12 password is wrong. (${err.message})`);
      throw err;
    }
    if (bundle.privateKey === undefined) throw badParameter('Private key is not specified in the specified X.509 PEM certificate content. Please specify private key in the X.509 PEM certificate content.');
    const requested = isObj(body.policy) ? body.policy : {};
    const policy = policyFromCertificate(bundle, requested, bundle.format, this.#now());
    const issued = issuedFrom(bundle.certsDer, bundle.privateKey, policy, '');
    const entry = this.#storeVersion(name, policy, issued, body, existing);
    delete entry.pending;
    this.#changed();
    return wire.certificateBundle(base, entry, entry.versions.at(-1) as CertificateEntry['versions'][number], true);
  }

  getCertificate(base: string, name: string, version: string | undefined): Json {
    const e = this.#liveCertificate(name);
    const v = version ? e.versions.find((x) => x.version === version.toLowerCase()) : e.versions.at(-1);
    if (v === undefined) throw certificateNotFound(version ? `${name}/${version}` : name);
    // Latest (versionless) GET returns the policy and the pending link; a versioned GET neither, but
    // the leaf's subject, issuer and serial number (as recorded).
    return version ? wire.certificateVersionBundle(base, e, v) : wire.certificateBundle(base, e, v, true);
  }

  getCertificatePolicy(base: string, name: string): Json {
    const e = this.#liveCertificate(name);
    return wire.policyWire(base, e.name, e.policy);
  }

  updateCertificate(base: string, name: string, version: string | undefined, body: Obj): Json {
    const e = this.#liveCertificate(name);
    const v = version ? e.versions.find((x) => x.version === version.toLowerCase()) : e.versions.at(-1);
    if (v === undefined) throw certificateNotFound(name);
    applyAttributes(v.attributes, body);
    const tags = tagsFrom(body);
    if (tags !== undefined) v.tags = tags;
    v.attributes.updated = this.#now();
    // The backing secret follows enabled, as in Key Vault.
    const sv = this.state.secrets[nameKey(name)]?.versions.find((x) => x.version === v.version);
    if (sv !== undefined) sv.attributes.enabled = v.attributes.enabled;
    this.#changed();
    return wire.certificateBundle(base, e, v, true);
  }

  listCertificates(base: string, url: URL): Json {
    const items = Object.values(this.state.certificates)
      .filter((e) => e.deleted === undefined && e.versions.length > 0)
      .sort((a, b) => nameKey(a.name).localeCompare(nameKey(b.name)))
      .map((e) => wire.certificateItem(base, e, e.versions.at(-1) as CertificateEntry['versions'][number], false));
    return wire.page(items, url, base, '/certificates');
  }

  listCertificateVersions(base: string, name: string, url: URL): Json {
    validateName(name);
    const e = this.state.certificates[nameKey(name)];
    const items = e === undefined || e.deleted !== undefined ? [] : byVersionId(e.versions).map((v) => wire.certificateItem(base, e, v, true));
    return wire.page(items, url, base, `/certificates/${name}/versions`);
  }

  /** DELETE /certificates/{name}: soft-deletes the certificate with its secret and key. */
  deleteCertificate(base: string, name: string): Json {
    const e = this.#liveCertificate(name);
    if (e.versions.length === 0) {
      // Only a pending first version: nothing to soft-delete; the operation is dropped.
      delete this.state.certificates[nameKey(name)];
      this.#changed();
      throw certificateNotFound(name);
    }
    const d = this.#deletion();
    e.deleted = d;
    const s = this.state.secrets[nameKey(name)];
    if (s !== undefined) s.deleted = d;
    const k = this.state.keys[nameKey(name)];
    if (k !== undefined) k.deleted = d;
    this.#changed();
    return wire.certificateBundle(base, e, e.versions.at(-1) as CertificateEntry['versions'][number], true);
  }

  #deletedCertificate(name: string): CertificateEntry {
    const e = this.state.certificates[nameKey(name)];
    if (e?.deleted === undefined) throw new KeyVaultError(404, 'CertificateNotFound', `Deleted Certificate not found: ${name}`);
    return e;
  }

  getDeletedCertificate(base: string, name: string): Json {
    const e = this.#deletedCertificate(name);
    return wire.certificateBundle(base, e, e.versions.at(-1) as CertificateEntry['versions'][number], true);
  }

  purgeDeletedCertificate(name: string): void {
    this.#deletedCertificate(name);
    delete this.state.certificates[nameKey(name)];
    delete this.state.secrets[nameKey(name)];
    delete this.state.keys[nameKey(name)];
    this.#changed();
  }

  recoverDeletedCertificate(base: string, name: string): Json {
    const e = this.#deletedCertificate(name);
    delete e.deleted;
    const s = this.state.secrets[nameKey(name)];
    if (s !== undefined) delete s.deleted;
    const k = this.state.keys[nameKey(name)];
    if (k !== undefined) delete k.deleted;
    this.#changed();
    return wire.certificateBundle(base, e, e.versions.at(-1) as CertificateEntry['versions'][number], true);
  }

  // ---------------------------------------------------------------- events

  #event(type: VaultEvent['type'], objectType: VaultEvent['objectType'], objectName: string, version: string, a: ObjectAttributes): VaultEvent {
    return {
      type,
      vaultName: this.name,
      vaultUrl: this.#deps.vaultUrl(),
      objectType,
      objectName,
      version,
      ...(a.nbf === undefined ? {} : { nbf: a.nbf }),
      ...(a.exp === undefined ? {} : { exp: a.exp }),
    };
  }

  /** Near-expiry / expired events for the latest enabled versions; each (object, version, kind) fires once. */
  checkExpiry(nearExpirySeconds: number, fired: Set<string>): void {
    const now = this.#now();
    const consider = (objectType: 'Secret' | 'Certificate', name: string, version: string, a: ObjectAttributes): void => {
      if (a.exp === undefined || !a.enabled) return;
      const kind = a.exp <= now ? 'Expired' : a.exp - now <= nearExpirySeconds ? 'NearExpiry' : undefined;
      if (kind === undefined) return;
      const key = `${this.name}/${objectType}/${name}/${version}/${kind}`;
      if (fired.has(key)) return;
      fired.add(key);
      this.#deps.publish(this.#event(`Microsoft.KeyVault.${objectType}${kind}` as VaultEvent['type'], objectType, name, version, a));
    };
    for (const e of Object.values(this.state.secrets)) {
      const v = e.versions.at(-1);
      if (e.deleted === undefined && v !== undefined && v.managed !== true) consider('Secret', e.name, v.version, v.attributes);
    }
    for (const e of Object.values(this.state.certificates)) {
      const v = e.versions.at(-1);
      if (e.deleted === undefined && v !== undefined) consider('Certificate', e.name, v.version, v.attributes);
    }
  }
}

/**
 * renderOutputs: fetched objects → the Secrets and ConfigMaps a KeyVaultSync asks for. Shared by the
 * controller, `kvsync render` and `kvsync mount`; pure (no I/O).
 *
 * What goes under a key (`OutputPart`):
 * - `content`: the object as a mounted file would hold it:
 *   - secret: the value decoded per `objectEncoding` (utf-8: as is; base64 / hex: the decoded bytes);
 *   - certificate (or a secret that is a certificate's backing secret): `objectFormat: pem` → the private
 *     key (PKCS#8, when exportable) then the chain, leaf first; `objectFormat: pfx` → PKCS#12 bytes
 *     (Key Vault's own PFX when the backing secret is one, else written with Key Vault's profile and
 *     the null password). A CSI `secret` object with `pfx` keeps CSI's behaviour: the base64 text,
 *     decoded to bytes only with `objectEncoding: base64`;
 *   - cert: the certificate PEM; key: the public key PEM (SPKI).
 * - `tls.crt`: leaf then intermediates in issuer order (root with `includeRoot`); `tls.key`: the private
 *   key in the Secret's `keyFormat`; `ca.crt`: the issuing chain (intermediates and root; a self-signed
 *   leaf is its own CA).
 * - split objects (`split: json|yaml`, akv2k8s style): every top-level property under its own key.
 * ConfigMaps only ever receive public material (a certificate's `content` there is its chain only).
 *
 * Objects that were not fetched: an optional one's keys are left out; a required one is an error.
 */
import type { OutputPart, ResolvedKeyVaultSync, ResolvedObject, ResolvedSecretOutput, ResolvedTlsOptions } from '../api/resolved.ts';
import { dataKeyProblem } from '../api/kube-names.ts';
import { renderTemplate } from '../api/template.ts';
import { bundleFromKeyVaultSecret, CONTENT_TYPE_PKCS12, pfxFromBundle, withBundleOptions } from '../pki/bundle.ts';
import type { TlsBundle } from '../pki/bundle.ts';
import { parse as parseYaml } from 'yaml';
import { SyncError, TemplateRenderError, toSyncError } from './errors.ts';
import type { FetchedObject } from './fetch.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/labels.ts';

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

/** Kubernetes' limit on a Secret's (and ConfigMap's) data: 1 MiB. */
export const MAX_OBJECT_DATA_BYTES = 1024 * 1024;

const DEFAULT_TLS: ResolvedTlsOptions = { includeRoot: false, caCert: false, keyFormat: 'pkcs8' };

/** Per-render cache of bundles derived with non-default options. */
type BundleCache = Map<string, TlsBundle>;

function describe(o: ResolvedObject): string {
  return `${o.type} "${o.name}"`;
}

function decodeEncoded(value: string, o: ResolvedObject): Buffer {
  switch (o.encoding) {
    case 'utf-8':
      return Buffer.from(value, 'utf8');
    case 'base64': {
      const text = value.replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw new SyncError('InvalidSpec', `${describe(o)}: objectEncoding is base64 but the value is not base64`, { object: o.name });
      return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
    }
    case 'hex': {
      const text = value.trim();
      if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new SyncError('InvalidSpec', `${describe(o)}: objectEncoding is hex but the value is not hex`, { object: o.name });
      return Buffer.from(text, 'hex');
    }
  }
}

/**
 * The certificate bundle of an object with the given TLS options, derived from the bundle decoded at
 * fetch time: rendering never decodes PKCS#12 (a secret fetched without `decoded`, by a caller that
 * did not ask for it, is decoded here as a fallback).
 */
function bundleOf(f: FetchedObject, tls: ResolvedTlsOptions, cache: BundleCache): TlsBundle {
  const m = f.material;
  const o = f.object;
  if (m.kind === 'publicKey') throw new SyncError('InvalidSpec', `${describe(o)} is a key; it has no certificate for tls.crt / tls.key / ca.crt`, { object: o.name });
  let base: TlsBundle;
  if (m.kind === 'certificate') base = m.bundle;
  else if (m.decoded === undefined) base = bundleFromKeyVaultSecret(m.value, f.contentType);
  else if ('error' in m.decoded) throw m.decoded.error;
  else base = m.decoded.bundle;
  // pkcs1 / sec1 both mean "the traditional format of the key type" (PKCS#1 for RSA, SEC1 for EC).
  const traditional = m.kind === 'certificate' && base.leaf.keyType === 'EC' ? 'sec1' : m.kind === 'certificate' ? 'pkcs1' : tls.keyFormat;
  const keyFormat = tls.keyFormat === 'pkcs8' ? 'pkcs8' : traditional;
  const key = `${o.outputName}|${f.historyIndex}|${keyFormat}|${tls.includeRoot}`;
  let bundle = cache.get(key);
  if (bundle === undefined) {
    bundle = withBundleOptions(base, { keyFormat, includeRoot: tls.includeRoot });
    cache.set(key, bundle);
  }
  return bundle;
}

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\r?\n?/g)?.map((b) => (b.endsWith('\n') ? b : `${b}\n`)) ?? [];
}

/** The value of one part of a fetched object. */
function partOf(f: FetchedObject, part: OutputPart, tls: ResolvedTlsOptions, cache: BundleCache, forConfigMap: boolean): Buffer {
  const o = f.object;
  const m = f.material;
  switch (part) {
    case 'tls.crt':
      return Buffer.from(bundleOf(f, tls, cache).certificateChainPem, 'utf8');
    case 'tls.key': {
      const key = bundleOf(f, tls, cache).privateKeyPem;
      if (key === undefined) throw new SyncError('InvalidCertificate', `${describe(o)} has no exportable private key (or the identity may not read its secret), so tls.key cannot be written`, { object: o.name });
      return Buffer.from(key, 'utf8');
    }
    case 'ca.crt': {
      const full = bundleOf(f, { ...tls, includeRoot: true }, cache);
      const blocks = pemBlocks(full.certificateChainPem);
      const issuers = blocks.length > 1 ? blocks.slice(1) : full.leaf.subject === full.leaf.issuer ? blocks : [];
      if (issuers.length === 0) throw new SyncError('InvalidCertificate', `${describe(o)}: the bundle holds no issuing CA certificate for ca.crt`, { object: o.name });
      return Buffer.from(issuers.join(''), 'utf8');
    }
    case 'content':
      break;
  }
  if (m.kind === 'publicKey') return Buffer.from(m.pem, 'utf8');
  if (m.kind === 'secret') return decodeEncoded(m.value, o);
  // A certificate.
  if (forConfigMap || o.type === 'cert') return Buffer.from(m.bundle.certificateChainPem, 'utf8');
  if (o.format === 'pfx') {
    if (m.bundle.privateKeyPem === undefined) throw new SyncError('InvalidCertificate', `${describe(o)} has no exportable private key, so objectFormat pfx cannot be written`, { object: o.name });
    // A certificate object gets the PKCS#12 bytes. A CSI `secret` object keeps CSI's behaviour: the
    // secret's value (base64 text), decoded to bytes only with objectEncoding base64.
    const isPkcs12 = f.contentType?.split(';')[0]?.trim().toLowerCase() === CONTENT_TYPE_PKCS12;
    const pfx = isPkcs12 && m.secretValue !== undefined ? Buffer.from(m.secretValue, 'base64') : pfxFromBundle(m.bundle);
    return o.type === 'certificate' || o.encoding === 'base64' ? pfx : Buffer.from(pfx.toString('base64'), 'utf8');
  }
  return Buffer.from(`${m.bundle.privateKeyPem ?? ''}${m.bundle.certificateChainPem}`, 'utf8');
}

/** The properties of a split (JSON / YAML) object, each as bytes. */
function splitOf(f: FetchedObject): Record<string, Buffer> {
  const o = f.object;
  if (f.material.kind !== 'secret') throw new SyncError('InvalidSpec', `${describe(o)}: only secrets can be split`, { object: o.name });
  const text = decodeEncoded(f.material.value, o).toString('utf8');
  let doc: unknown;
  try {
    doc = o.split === 'yaml' ? parseYaml(text) : JSON.parse(text);
  } catch {
    // The parser's message may quote the value: say only what was expected.
    throw new SyncError('InvalidSpec', `${describe(o)} is not a ${o.split === 'yaml' ? 'YAML' : 'JSON'} document, so it cannot be split into keys`, { object: o.name });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SyncError('InvalidSpec', `${describe(o)} is not a ${o.split === 'yaml' ? 'YAML' : 'JSON'} object, so it cannot be split into keys`, { object: o.name });
  }
  const out: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const problem = dataKeyProblem(key);
    if (problem !== undefined) throw new SyncError('InvalidSpec', `${describe(o)}: a property name ${problem}, so it cannot be a Secret key`, { object: o.name });
    out[key] = Buffer.from(typeof value === 'string' ? value : value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value as number | boolean), 'utf8');
  }
  return out;
}

function checkShape(secret: ResolvedSecretOutput, data: Record<string, Buffer>): void {
  if (secret.type === 'kubernetes.io/dockerconfigjson') {
    const raw = data['.dockerconfigjson'];
    let ok: boolean;
    try {
      const doc: unknown = raw === undefined ? undefined : JSON.parse(raw.toString('utf8'));
      ok = typeof doc === 'object' && doc !== null && typeof (doc as { auths?: unknown }).auths === 'object';
    } catch {
      ok = false;
    }
    if (!ok) throw new SyncError('InvalidSpec', `Secret "${secret.name}": .dockerconfigjson must be a JSON document with an "auths" object`);
  }
  if (secret.type === 'kubernetes.io/basic-auth' && data.username === undefined && data.password === undefined) {
    throw new SyncError('InvalidSpec', `Secret "${secret.name}": a kubernetes.io/basic-auth Secret needs username or password`);
  }
}

/** Size of data as the apiserver counts it: keys plus decoded values. */
export function dataSize(data: Readonly<Record<string, Buffer | string>>): number {
  let total = 0;
  for (const [key, value] of Object.entries(data)) total += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  return total;
}

/** The one check of Kubernetes' 1 MiB limit, made before anything is written (and by `kvsync render`). */
function checkSize(kind: 'Secret' | 'ConfigMap', name: string, data: Record<string, Buffer | string>): void {
  const total = dataSize(data);
  if (total > MAX_OBJECT_DATA_BYTES) throw new SyncError('InvalidSpec', `${kind} "${name}" would hold ${total} bytes of data; Kubernetes allows at most ${MAX_OBJECT_DATA_BYTES} (1 MiB)`);
}

/**
 * The value of a template key: the content of each object it names, substituted. A template naming an
 * optional object that was not fetched is left out, like that object's own keys.
 */
function templateValue(
  secret: string,
  e: Extract<ResolvedSecretOutput['entries'][number], { kind: 'template' }>,
  lookup: (outputName: string) => FetchedObject | undefined,
  content: (f: FetchedObject) => Buffer,
): Buffer | undefined {
  const values = new Map<string, Buffer>();
  for (const name of e.template.objects) {
    const f = lookup(name);
    if (f === undefined) return undefined;
    values.set(name, content(f));
  }
  const out = renderTemplate(e.template, (name) => values.get(name) ?? Buffer.alloc(0), MAX_OBJECT_DATA_BYTES);
  if (!out.ok) throw new TemplateRenderError(out.failure, `Secret "${secret}" key "${e.key}": the template ${out.message}`);
  return out.value;
}

/** The Secrets and ConfigMaps one KeyVaultSync describes, ready to write. */
export interface RenderedOutputs {
  secrets: DesiredSecret[];
  configMaps: DesiredConfigMap[];
}

/**
 * Builds the desired Secrets and ConfigMaps. Uses the current version of each object (historyIndex 0).
 * @throws SyncError InvalidSpec (bad encoding, unsplittable object, bad shape, over 1 MiB, a required
 *   object that was not fetched), InvalidCertificate / KeyMismatch (certificate material).
 */
export function renderOutputs(sync: ResolvedKeyVaultSync, fetched: FetchedObject[]): RenderedOutputs {
  const byOutput = new Map<string, FetchedObject>();
  for (const f of fetched) if (f.historyIndex === 0) byOutput.set(f.object.outputName, f);
  const declared = new Map(sync.objects.map((o) => [o.outputName, o]));
  const cache: BundleCache = new Map();
  const vault = sync.vault.name ?? sync.vault.url;
  /** Runs `make` for object `f`, mapping PkiErrors (KeyMismatch, InvalidCertificate…) to SyncErrors naming it. */
  const guarded = <T>(f: FetchedObject, make: () => T): T => {
    try {
      return make();
    } catch (err) {
      throw toSyncError(err, { vault, object: describe(f.object), objectName: f.object.name });
    }
  };

  /** The fetched object, undefined for an optional object that was not fetched. */
  const lookup = (outputName: string, output: string): FetchedObject | undefined => {
    const f = byOutput.get(outputName);
    if (f !== undefined) return f;
    const o = declared.get(outputName);
    if (o?.optional === true) return undefined;
    throw new SyncError('ObjectNotFound', `${output} needs object "${outputName}", which was not fetched`, { object: o?.name ?? outputName });
  };

  const secrets = sync.secrets.map((s): DesiredSecret => {
    const data: Record<string, Buffer> = {};
    const tls = s.tls ?? DEFAULT_TLS;
    for (const e of s.entries) {
      if (e.kind === 'template') {
        const value = templateValue(s.name, e, (name) => lookup(name, `Secret "${s.name}"`), (f) => guarded(f, () => partOf(f, 'content', tls, cache, false)));
        if (value !== undefined) data[e.key] = value;
        continue;
      }
      const f = lookup(e.object, `Secret "${s.name}"`);
      if (f === undefined) continue;
      if (e.kind === 'split') Object.assign(data, guarded(f, () => splitOf(f)));
      else data[e.key] = guarded(f, () => partOf(f, e.part, tls, cache, false));
    }
    checkShape(s, data);
    checkSize('Secret', s.name, data);
    return { name: s.name, type: s.type, labels: { ...s.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }, annotations: { ...s.annotations }, creationPolicy: s.creationPolicy, data };
  });

  const configMaps = sync.configMaps.map((c): DesiredConfigMap => {
    const data: Record<string, string> = {};
    for (const e of c.entries) {
      const f = lookup(e.object, `ConfigMap "${c.name}"`);
      if (f === undefined) continue;
      if (f.material.kind === 'secret' && f.object.type === 'secret') {
        throw new SyncError('InvalidSpec', `ConfigMap "${c.name}" may hold public material only, not ${describe(f.object)}`, { object: f.object.name });
      }
      data[e.key] = guarded(f, () => partOf(f, e.part, DEFAULT_TLS, cache, true)).toString('utf8');
    }
    checkSize('ConfigMap', c.name, data);
    return { name: c.name, labels: { ...c.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }, annotations: { ...c.annotations }, creationPolicy: c.creationPolicy, data };
  });
  return { secrets, configMaps };
}

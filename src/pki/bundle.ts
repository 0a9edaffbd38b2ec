/**
 * The public entry point of `src/pki`: Key Vault secret content or a file → TLS material
 * (`tls.crt`, `tls.key`, `ca.crt`) plus facts for status.
 *
 * Pipeline: bound the input size → decode (PKCS#12 via node-forge, PEM, or a DER certificate) →
 * parse certificates and keys with node:crypto → drop duplicate certificates → order the chain by
 * verified signatures → check the key matches the leaf → write the key in the requested format.
 */
import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { certificateFacts, parseCertificate, type CertificateFacts } from './certificate.ts';
import { dedupeCertificates, orderChain } from './chain.ts';
import { PkiError } from './errors.ts';
import { resolveLimits, type PkiLimits } from './limits.ts';
import { isPrivateKeyLabel, looksLikePem, splitPem, toPem } from './pem.ts';
import { decodePfx } from './pfx.ts';
import { writePfx, type PfxWriteOptions } from './pfx-writer.ts';
import { exportPrivateKeyPem, keyPairId, parsePrivateKeyDer, parsePrivateKeyPem, privateKeyToPkcs8Der, type KeyFormat } from './private-key.ts';

// One import for callers (operator, mount sidecar, render): the error type and the option types.
export { isPkiError, PkiError, type PkiErrorReason } from './errors.ts';
export { DEFAULT_PKI_LIMITS, type PkiLimits } from './limits.ts';
export type { CertificateFacts, KeyType } from './certificate.ts';
export type { KeyFormat } from './private-key.ts';
export type { PfxEncryption, PfxWriteOptions } from './pfx-writer.ts';
// Building blocks for callers that already hold DER certificates and a key (the Key Vault emulator).
export { writePfx } from './pfx-writer.ts';
export { toPem } from './pem.ts';
export { privateKeyToPkcs8Der } from './private-key.ts';

/** Key Vault's content types for a certificate's backing secret. */
export const CONTENT_TYPE_PKCS12 = 'application/x-pkcs12';
export const CONTENT_TYPE_PEM = 'application/x-pem-file';

/** Where the material came from. */
export type SourceFormat = 'pkcs12' | 'pem' | 'der';

export interface BundleOptions {
  /** PKCS#12 password, or the passphrase of an encrypted PEM key. Default: none (then `""` is tried too). */
  password?: string;
  /** Format of `privateKeyPem`. Default `pkcs8`. `pkcs1` is RSA-only, `sec1` EC-only. */
  keyFormat?: KeyFormat;
  /** Append the self-signed root to `certificateChainPem` when the bundle has it. Default false. */
  includeRoot?: boolean;
  /** Fail with `NoPrivateKey` when the source has no private key (e.g. for a `kubernetes.io/tls` Secret). */
  requirePrivateKey?: boolean;
  /** Override input bounds (see limits.ts). */
  limits?: Partial<PkiLimits>;
}

export interface TlsBundle {
  /** PEM: leaf first, then intermediates in issuer order; the root only with `includeRoot`. */
  certificateChainPem: string;
  /** The private key as PEM in the requested format; absent when the source has no key. */
  privateKeyPem?: string;
  /** PEM of the self-signed root(s) of the chain, when the bundle has them (for `ca.crt`). */
  caPem?: string;
  /** PEM of the root that `includeRoot` appends, when the bundle has one other than the leaf. */
  rootPem?: string;
  /** Whether `certificateChainPem` ends with `rootPem`. */
  rootIncluded: boolean;
  leaf: CertificateFacts;
  /** Number of certificates in `certificateChainPem`. */
  chainLength: number;
  sourceFormat: SourceFormat;
  /** Dropped certificates, removed duplicates, an ambiguous leaf, an expired leaf. No secret content. */
  warnings: string[];
}

/** Certificates and keys as decoded, before ordering. */
interface Material {
  format: SourceFormat;
  certificates: X509Certificate[];
  keys: KeyObject[];
  warnings: string[];
}

/**
 * Builds a TLS bundle from the value of a Key Vault certificate's backing secret.
 *
 * `application/x-pkcs12`: `value` is base64 PKCS#12. `application/x-pem-file`: `value` is PEM text
 * (Key Vault writes the PKCS#8 key, then the certificates). Any other or no content type: the value
 * is sniffed (PEM text, else base64 of a PKCS#12 file or a DER certificate).
 *
 * @throws PkiError with reason `InvalidCertificate`, `InvalidPrivateKey`, `KeyMismatch`,
 *   `UnsupportedFormat`, `BadPassword`, `NoPrivateKey`, `UnsupportedKeyFormat` or `LimitExceeded`.
 */
export function bundleFromKeyVaultSecret(value: string, contentType: string | undefined, opts: BundleOptions = {}): TlsBundle {
  const limits = resolveLimits(opts.limits);
  checkSize(value.length, limits);
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  let material: Material;
  if (type === CONTENT_TYPE_PKCS12) {
    const der = decodeBase64(value);
    if (der === undefined) {
      throw new PkiError('UnsupportedFormat', `content type ${CONTENT_TYPE_PKCS12} but the value is not base64`);
    }
    material = fromPfx(der, opts.password, limits);
  } else if (type === CONTENT_TYPE_PEM) {
    if (!looksLikePem(value)) {
      throw new PkiError('UnsupportedFormat', `content type ${CONTENT_TYPE_PEM} but the value contains no PEM block`);
    }
    material = fromPemText(value, opts.password, limits);
  } else {
    material = sniffText(value, opts.password, limits);
  }
  return assemble(material, opts);
}

/**
 * Builds a TLS bundle from file contents: a PKCS#12 file (.pfx/.p12), a PEM bundle (any order of
 * keys and certificates), a DER certificate (.cer), or base64 of a PKCS#12/DER file (a Key Vault
 * secret value saved as is).
 *
 * @throws PkiError as {@link bundleFromKeyVaultSecret}.
 */
export function bundleFromFile(bytes: Buffer, opts: BundleOptions = {}): TlsBundle {
  const limits = resolveLimits(opts.limits);
  checkSize(bytes.length, limits);
  if (bytes.length === 0) throw new PkiError('UnsupportedFormat', 'input is empty');
  const text = bytes.toString('latin1');
  // 0x30 is both a DER SEQUENCE and the character "0": PEM wins when there is a BEGIN line.
  if (bytes[0] === 0x30 && !looksLikePem(text)) return assemble(fromDer(bytes, opts.password, limits), opts);
  return assemble(sniffText(text, opts.password, limits), opts);
}

/**
 * The bundle as the given options would have built it, derived from an already decoded bundle without
 * decoding the source again (no PKCS#12 key derivation, no chain building): the root appended or
 * left out, the private key re-encoded. `bundle` must hold its key as PKCS#8 (the default).
 *
 * @throws PkiError `UnsupportedKeyFormat` for a key format its key type does not have.
 */
export function withBundleOptions(bundle: TlsBundle, opts: Pick<BundleOptions, 'keyFormat' | 'includeRoot'>): TlsBundle {
  const keyFormat = opts.keyFormat ?? 'pkcs8';
  const includeRoot = opts.includeRoot === true && bundle.rootPem !== undefined;
  if (keyFormat === 'pkcs8' && includeRoot === bundle.rootIncluded) return bundle;
  let certificateChainPem = bundle.certificateChainPem;
  let chainLength = bundle.chainLength;
  if (includeRoot !== bundle.rootIncluded && bundle.rootPem !== undefined) {
    certificateChainPem = includeRoot ? certificateChainPem + bundle.rootPem : certificateChainPem.slice(0, -bundle.rootPem.length);
    chainLength += includeRoot ? 1 : -1;
  }
  const privateKeyPem = bundle.privateKeyPem === undefined || keyFormat === 'pkcs8' ? bundle.privateKeyPem : exportPrivateKeyPem(createPrivateKey(bundle.privateKeyPem), keyFormat);
  return { ...bundle, certificateChainPem, chainLength, rootIncluded: includeRoot, ...(privateKeyPem === undefined ? {} : { privateKeyPem }) };
}

/**
 * Encodes a bundle as PKCS#12 (for `objectFormat: pfx`): the certificates of
 * `certificateChainPem` (leaf first) and the private key, if any. Default protection is Key
 * Vault's: 3DES, SHA-1 MAC and *no* password (see pfx-writer.ts for the profiles).
 */
export function pfxFromBundle(bundle: TlsBundle, opts: PfxWriteOptions = {}): Buffer {
  const certificates = splitPem(bundle.certificateChainPem, Number.MAX_SAFE_INTEGER).map((b) => b.der);
  const key = bundle.privateKeyPem === undefined ? undefined : privateKeyToPkcs8Der(createPrivateKey(bundle.privateKeyPem));
  return writePfx(certificates, key, opts);
}

function checkSize(size: number, limits: PkiLimits): void {
  if (size > limits.maxInputBytes) {
    throw new PkiError('LimitExceeded', `input is ${size} bytes; the limit is ${limits.maxInputBytes}`);
  }
}

/** Strict base64 (whitespace allowed); `undefined` when `text` is not base64. */
function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

function sniffText(text: string, password: string | undefined, limits: PkiLimits): Material {
  if (looksLikePem(text)) return fromPemText(text, password, limits);
  const der = decodeBase64(text);
  if (der !== undefined && der[0] === 0x30) return fromDer(der, password, limits);
  throw new PkiError('UnsupportedFormat', 'input is neither PEM, PKCS#12, nor a DER certificate');
}

/** DER: a PKCS#12 PFX (SEQUENCE { INTEGER 3, … }) or a single X.509 certificate (SEQUENCE { SEQUENCE, … }). */
function fromDer(der: Buffer, password: string | undefined, limits: PkiLimits): Material {
  const inner = firstInnerTag(der);
  if (inner === 0x30) {
    return { format: 'der', certificates: [parseCertificate(der, 'DER input')], keys: [], warnings: [] };
  }
  if (inner !== 0x02) {
    throw new PkiError('UnsupportedFormat', 'DER input is neither a PKCS#12 file nor a certificate');
  }
  return fromPfx(der, password, limits);
}

/** Tag of the first element inside the outer SEQUENCE, or undefined when the header is malformed. */
function firstInnerTag(der: Buffer): number | undefined {
  const lengthByte = der[1];
  if (lengthByte === undefined) return undefined;
  const headerLength = lengthByte < 0x80 ? 2 : 2 + (lengthByte & 0x7f);
  return der[headerLength];
}

function fromPfx(der: Buffer, password: string | undefined, limits: PkiLimits): Material {
  const contents = decodePfx(der, password, limits);
  checkCertificateCount(contents.certificates.length, limits);
  return {
    format: 'pkcs12',
    certificates: contents.certificates.map((c, i) => parseCertificate(c, `PKCS#12 certificate #${i + 1}`)),
    keys: contents.privateKeys.map((k, i) => parsePrivateKeyDer(k, 'pkcs8', `PKCS#12 private key #${i + 1}`)),
    warnings: [],
  };
}

const IGNORED_SILENTLY = new Set(['EC PARAMETERS']);

function fromPemText(text: string, password: string | undefined, limits: PkiLimits): Material {
  const blocks = splitPem(text, limits.maxPemBlocks);
  const certificates: X509Certificate[] = [];
  const keys: KeyObject[] = [];
  const warnings: string[] = [];
  let certNumber = 0;
  let keyNumber = 0;
  for (const block of blocks) {
    if (block.label === 'CERTIFICATE' || block.label === 'X509 CERTIFICATE') {
      certNumber++;
      checkCertificateCount(certNumber, limits);
      certificates.push(parseCertificate(block.der, `PEM certificate #${certNumber}`));
    } else if (isPrivateKeyLabel(block.label)) {
      keyNumber++;
      keys.push(parsePrivateKeyPem(block, password, `PEM private key #${keyNumber}`));
    } else if (!IGNORED_SILENTLY.has(block.label)) {
      warnings.push(`ignored PEM block "${block.label}"`);
    }
  }
  return { format: 'pem', certificates, keys, warnings };
}

function checkCertificateCount(count: number, limits: PkiLimits): void {
  if (count > limits.maxCertificates) {
    throw new PkiError('LimitExceeded', `bundle has more than ${limits.maxCertificates} certificates`);
  }
}

function assemble(material: Material, opts: BundleOptions): TlsBundle {
  const warnings = [...material.warnings];
  const { unique, duplicates } = dedupeCertificates(material.certificates);
  if (duplicates > 0) warnings.push(`removed ${duplicates} duplicate certificate(s)`);

  const key = singleKey(material.keys);
  if (key === undefined && opts.requirePrivateKey === true) {
    throw new PkiError('NoPrivateKey', 'the certificate has no (exportable) private key');
  }
  const chain = orderChain(unique, key);
  warnings.push(...chain.warnings);

  const chainCerts = [chain.leaf, ...chain.intermediates];
  const root = chain.root !== undefined && chain.root !== chain.leaf ? chain.root : undefined;
  if (opts.includeRoot === true && root !== undefined) chainCerts.push(root);
  const leaf = certificateFacts(chain.leaf);
  if (leaf.notAfter.getTime() < Date.now()) {
    warnings.push(`leaf certificate "${leaf.subject}" expired at ${leaf.notAfter.toISOString()}`);
  }
  return {
    certificateChainPem: chainCerts.map((c) => toPem('CERTIFICATE', c.raw)).join(''),
    ...(key !== undefined ? { privateKeyPem: exportPrivateKeyPem(key, opts.keyFormat ?? 'pkcs8') } : {}),
    ...(chain.caCertificates.length > 0 ? { caPem: chain.caCertificates.map((c) => toPem('CERTIFICATE', c.raw)).join('') } : {}),
    ...(root !== undefined ? { rootPem: toPem('CERTIFICATE', root.raw) } : {}),
    rootIncluded: opts.includeRoot === true && root !== undefined,
    leaf,
    chainLength: chainCerts.length,
    sourceFormat: material.format,
    warnings,
  };
}

/** The one private key of the bundle (repeats of the same key pair allowed), or none. */
function singleKey(keys: KeyObject[]): KeyObject | undefined {
  const distinct = new Map<string, KeyObject>();
  for (const key of keys) {
    const id = keyPairId(key);
    if (!distinct.has(id)) distinct.set(id, key);
  }
  if (distinct.size > 1) {
    throw new PkiError('UnsupportedFormat', `the bundle contains ${distinct.size} different private keys; expected one`);
  }
  return distinct.values().next().value;
}

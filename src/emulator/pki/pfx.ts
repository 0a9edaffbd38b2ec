/**
 * PKCS#12 and PEM bundles the way Key Vault hands them out, and parsing of what users import.
 *
 * Key Vault's own PFX protects the key in a pkcs8ShroudedKeyBag with
 * pbeWithSHAAnd3-KeyTripleDES-CBC, the certificates in an EncryptedData with the same PBE, and a SHA-1
 * HMAC — all keyed from the *null* password (a zero-length password, not the two-byte "" BMPString),
 * 2000 iterations. The PKCS#12 itself is written by src/pki's writer (its `3des` profile with a null
 * password is exactly that format); this module only picks Key Vault's parameters.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { toPem, writePfx } from '../../pki/bundle.ts';
import { CertificateMaterialError } from '../errors.ts';
import { orderChain } from './x509.ts';

const { asn1, pki } = forge;

/** Key Vault's PBE and MAC iteration count. */
const KEY_VAULT_ITERATIONS = 2000;

const bin = (b: Buffer): string => b.toString('binary');
const toDer = (a: forge.asn1.Asn1): string => asn1.toDer(a).getBytes();

/**
 * Builds a Key-Vault-like PFX: `certsDer` is leaf first; the PFX stores them issuer-first (root → leaf),
 * as Key Vault's generated PFX files do. Returns the DER bytes (callers base64 them for the secret).
 */
export function buildKeyVaultPfx(keyPkcs8Der: Buffer | undefined, certsDer: Buffer[], friendlyName?: string): Buffer {
  return writePfx(certsDer, keyPkcs8Der, {
    // null, not '': the zero-length password Key Vault uses.
    password: null,
    encryption: '3des',
    iterations: KEY_VAULT_ITERATIONS,
    certificateOrder: 'root-first',
    ...(friendlyName !== undefined ? { friendlyName } : {}),
  });
}

/** PEM bundle as Key Vault returns it: PKCS#8 key first, then the certificates leaf first. */
export function buildPemBundle(keyPkcs8Der: Buffer | undefined, certsDer: Buffer[]): string {
  const key = keyPkcs8Der === undefined ? '' : toPem('PRIVATE KEY', keyPkcs8Der);
  return key + certsDer.map((der) => toPem('CERTIFICATE', der)).join('');
}

/** A parsed import: private key (if any) and certificates ordered leaf first. */
export interface CertificateBundle {
  privateKey: KeyObject | undefined;
  certsDer: Buffer[];
}

function pfxFromAsn1(der: string, password: string | undefined): forge.pkcs12.Pkcs12Pfx {
  const parsed = asn1.fromDer(der, false);
  if (password !== undefined && password !== '') return forge.pkcs12.pkcs12FromAsn1(parsed, false, password);
  // No password given: try the null password (Key Vault's), then "" (OpenSSL's empty password).
  try {
    return forge.pkcs12.pkcs12FromAsn1(parsed, false);
  } catch {
    return forge.pkcs12.pkcs12FromAsn1(asn1.fromDer(der, false), false, '');
  }
}

interface ForgeBag {
  key?: forge.pki.PrivateKey | null;
  cert?: forge.pki.Certificate | null;
  asn1?: forge.asn1.Asn1;
}

/** Parses a PFX (DER bytes) with an optional password; throws CertificateMaterialError when unreadable. */
export function parsePfx(der: Buffer, password: string | undefined): CertificateBundle {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = pfxFromAsn1(bin(der), password);
  } catch (err) {
    throw new CertificateMaterialError(`PKCS#12 could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const bagsOf = (type: string): ForgeBag[] => (p12.getBags({ bagType: type })[type] ?? []);
  const keyBags = [...bagsOf(pki.oids.pkcs8ShroudedKeyBag ?? ''), ...bagsOf(pki.oids.keyBag ?? '')];
  let privateKey: KeyObject | undefined;
  const firstKey = keyBags[0];
  if (firstKey !== undefined) {
    const infoAsn1 = firstKey.key ? pki.wrapRsaPrivateKey(pki.privateKeyToAsn1(firstKey.key)) : firstKey.asn1;
    if (infoAsn1 === undefined) throw new CertificateMaterialError('PKCS#12 key bag has no key');
    privateKey = createPrivateKey({ key: Buffer.from(toDer(infoAsn1), 'binary'), format: 'der', type: 'pkcs8' });
  }
  const certsDer = bagsOf(pki.oids.certBag ?? '').map((bag) => {
    if (bag.cert) return Buffer.from(toDer(pki.certificateToAsn1(bag.cert)), 'binary');
    if (bag.asn1 !== undefined) return Buffer.from(toDer(bag.asn1), 'binary');
    throw new CertificateMaterialError('PKCS#12 certificate bag is empty');
  });
  if (certsDer.length === 0) throw new CertificateMaterialError('PKCS#12 contains no certificate');
  return { privateKey, certsDer: orderChain(certsDer, privateKey) };
}

/** Parses a PEM bundle (any private key format, optionally encrypted, plus certificates). */
export function parsePem(text: string, password: string | undefined): CertificateBundle {
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g)];
  let privateKey: KeyObject | undefined;
  const certsDer: Buffer[] = [];
  for (const block of blocks) {
    const label = block[1] ?? '';
    try {
      if (label === 'CERTIFICATE') certsDer.push(Buffer.from(new X509Certificate(block[0]).raw));
      else if (label.endsWith('PRIVATE KEY') && privateKey === undefined) {
        privateKey = createPrivateKey({ key: block[0], format: 'pem', ...(password === undefined ? {} : { passphrase: password }) });
      }
    } catch (err) {
      throw new CertificateMaterialError(`PEM block "${label}" could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (certsDer.length === 0) throw new CertificateMaterialError('PEM contains no certificate');
  return { privateKey, certsDer: orderChain(certsDer, privateKey) };
}

/**
 * Parses what `importCertificate` sends: base64 PFX or PEM text (the SDK sends PEM as-is when the
 * policy's content type is `application/x-pem-file`). Detects PEM by its armour.
 */
export function parseImportedValue(value: string, password: string | undefined): CertificateBundle & { format: 'pem' | 'pfx' } {
  if (value.includes('-----BEGIN')) return { ...parsePem(value, password), format: 'pem' };
  const der = Buffer.from(value, 'base64');
  if (der.length === 0) throw new CertificateMaterialError('certificate value is empty');
  // A base64 PEM (some tools double-encode) is accepted too.
  const text = der.toString('latin1');
  if (text.includes('-----BEGIN')) return { ...parsePem(text, password), format: 'pem' };
  return { ...parsePfx(der, password), format: 'pfx' };
}

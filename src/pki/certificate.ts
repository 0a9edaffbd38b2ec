/**
 * X.509 certificates through node:crypto's `X509Certificate`.
 *
 * All certificate handling in `src/pki` uses node:crypto, not node-forge: it reads RSA and EC
 * certificates alike (forge reads RSA only), verifies signatures natively (forge does it in
 * JavaScript), is ~3x faster to parse, and keeps the original DER bytes (forge re-encodes).
 * node-forge is used only for PKCS#12, which node:crypto cannot open.
 */
import { X509Certificate } from 'node:crypto';
import { PkiError } from './errors.ts';

export type KeyType = 'RSA' | 'EC';

/** What status and metrics show about a certificate. None of it is secret. */
export interface CertificateFacts {
  /** Distinguished name, one line, e.g. `CN=shop.example, O=Shop`. */
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** Hex, upper case, as node:crypto prints it. */
  serialNumber: string;
  /** SHA-1 of the DER, hex upper case without separators: Key Vault's (and Windows') thumbprint. */
  sha1Thumbprint: string;
  /** DNS names of the subjectAltName extension, in order. */
  dnsNames: string[];
  keyType: KeyType;
}

/**
 * Parses one DER certificate.
 *
 * @throws PkiError `InvalidCertificate` when the bytes are not an X.509 certificate;
 *   `UnsupportedFormat` when its public key is neither RSA nor EC.
 */
export function parseCertificate(der: Uint8Array, where: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new PkiError('InvalidCertificate', `${where} is not a valid X.509 certificate`);
  }
  keyTypeOf(cert); // reject unsupported key types early, with the subject in the message
  return cert;
}

/** RSA (including RSA-PSS) or EC. @throws PkiError `UnsupportedFormat` for any other key type. */
export function keyTypeOf(cert: X509Certificate): KeyType {
  const type = cert.publicKey.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') return 'RSA';
  if (type === 'ec') return 'EC';
  throw new PkiError(
    'UnsupportedFormat',
    `certificate "${oneLineName(cert.subject)}" has a ${type ?? 'unknown'} key; only RSA and EC are supported`,
  );
}

/** Node prints names one RDN per line; status wants one line. */
export function oneLineName(name: string): string {
  return name.split('\n').filter((s) => s !== '').join(', ');
}

/**
 * True when `cert` is self-signed: it names itself as issuer and its signature verifies with its own
 * key. Unlike {@link issued}, key usage is not consulted: Key Vault's self-signed certificates carry
 * `digitalSignature, keyEncipherment` without `keyCertSign`, and are still their own root.
 */
export function isSelfSigned(cert: X509Certificate): boolean {
  if (cert.subject !== cert.issuer) return false;
  try {
    return cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

/**
 * True when `issuer` issued `child`: names (and key identifiers, when present) match AND the
 * signature of `child` verifies with `issuer`'s public key. A name match alone is not enough.
 */
export function issued(issuer: X509Certificate, child: X509Certificate): boolean {
  if (!child.checkIssued(issuer)) return false;
  try {
    return child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Facts of `cert` for status. */
export function certificateFacts(cert: X509Certificate): CertificateFacts {
  return {
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    serialNumber: cert.serialNumber,
    sha1Thumbprint: cert.fingerprint.replaceAll(':', '').toUpperCase(),
    dnsNames: dnsNamesOf(cert),
    keyType: keyTypeOf(cert),
  };
}

/**
 * DNS names from node's subjectAltName rendering (`DNS:a, DNS:b, IP Address:…`). Node quotes a name
 * that contains a separator as a JSON string (`DNS:"a, b"`), which is decoded here.
 */
function dnsNamesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  const names: string[] = [];
  const entry = /(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const m of san.matchAll(entry)) {
    const value = m[1] ?? '';
    if (value.startsWith('"')) {
      try {
        names.push(String(JSON.parse(value)));
      } catch {
        names.push(value);
      }
    } else {
      names.push(value);
    }
  }
  return names;
}

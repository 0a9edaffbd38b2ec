/**
 * Issues X.509 certificates for the emulator (its own TLS CA and server certificate, and Key Vault
 * certificates created from a policy) with @peculiar/x509 over node:crypto's WebCrypto.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import { createHash, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describeKey, signingAlgorithm, toWebCryptoPrivate, toWebCryptoPublic } from './keys.ts';

x509.cryptoProvider.set(globalThis.crypto);

/** A certificate with the private key that signs what it issues. */
export interface SigningIdentity {
  certDer: Buffer;
  privateKey: KeyObject;
  /** Issuer chain above `certDer`, leaf-most first (empty for a root). */
  chainDer: Buffer[];
}

export interface CertificateRequest {
  /** X.500 name, e.g. `CN=web` (Key Vault's `x509_props.subject`). */
  subject: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  emails?: string[];
  /** Extended key usage OIDs. */
  ekus?: string[];
  /** Key Vault key usage names (`digitalSignature`, `keyEncipherment`, `keyCertSign`, …). */
  keyUsage?: string[];
  notBefore: Date;
  notAfter: Date;
  /** The subject's key (private or public KeyObject). */
  subjectKey: KeyObject;
  isCa?: boolean;
}

const keyUsageFlags: Record<string, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

/** Names Key Vault accepts in `x509_props.key_usage`. */
export const KEY_USAGE_NAMES = Object.keys(keyUsageFlags);

/**
 * Issues a certificate for `req.subjectKey`, signed by `issuer` (or self-signed when `issuer` is
 * undefined, in which case `req.subjectKey` must be a private key). Returns the DER encoding.
 */
export async function issueCertificate(req: CertificateRequest, issuer?: SigningIdentity): Promise<Buffer> {
  const signerKey = issuer?.privateKey ?? req.subjectKey;
  const publicKey = toWebCryptoPublic(req.subjectKey);
  const issuerName = issuer === undefined ? req.subject : new x509.X509Certificate(issuer.certDer).subjectName;
  let flags = 0;
  for (const name of req.keyUsage ?? []) flags |= keyUsageFlags[name] ?? 0;
  const altNames: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(req.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(req.isCa === true, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
  if (flags !== 0) extensions.push(new x509.KeyUsagesExtension(flags, true));
  if ((req.ekus ?? []).length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(req.ekus ?? [], false));
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));
  if (issuer !== undefined) {
    const issuerCert = new x509.X509Certificate(issuer.certDer);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey, false));
  }
  // Positive 16-byte serial: clear the top bit so DER does not need a sign byte.
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: req.subject,
    issuer: issuerName,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey,
    signingKey: toWebCryptoPrivate(signerKey),
    signingAlgorithm: signingAlgorithm(describeKey(signerKey)),
    extensions,
  });
  return Buffer.from(cert.rawData);
}

/** `x5t`: base64url SHA-1 of the DER certificate, as Key Vault returns it. */
export function x5tOf(der: Buffer): string {
  return createHash('sha1').update(der).digest('base64url');
}

/** Orders `certs` leaf → … → root: the leaf is the one `privateKey` matches, then each issuer in turn. */
export function orderChain(certs: Buffer[], privateKey: KeyObject | undefined): Buffer[] {
  const parsed = certs.map((der) => ({ der, cert: new X509Certificate(der) }));
  if (parsed.length === 0) return [];
  let leaf = privateKey === undefined ? undefined : parsed.find((p) => p.cert.checkPrivateKey(privateKey));
  // Without a key: the certificate that issued none of the others.
  leaf ??= parsed.find((p) => !parsed.some((o) => o !== p && o.cert.checkIssued(p.cert))) ?? parsed[0];
  if (leaf === undefined) return [];
  const ordered = [leaf];
  const rest = parsed.filter((p) => p !== leaf);
  let current = leaf;
  while (rest.length > 0 && current.cert.subject !== current.cert.issuer) {
    const idx = rest.findIndex((p) => current.cert.checkIssued(p.cert));
    if (idx < 0) break;
    const [next] = rest.splice(idx, 1);
    if (next === undefined) break;
    ordered.push(next);
    current = next;
  }
  // Unrelated certificates keep their relative order at the end.
  return [...ordered.map((p) => p.der), ...rest.map((p) => p.der)];
}

/**
 * PKCS#12 and PEM bundles the way Key Vault hands them out, and parsing of what users import.
 *
 * Key Vault's own PFX (see reference azure.md §1.4) protects the key in a pkcs8ShroudedKeyBag with
 * pbeWithSHAAnd3-KeyTripleDES-CBC, the certificates in an EncryptedData with the same PBE, and a SHA-1
 * HMAC — all keyed from the *null* password (a zero-length password, not the two-byte "" BMPString),
 * 2000 iterations. node-forge's `toPkcs12Asn1(key, certs, null)` would skip encryption entirely, so
 * the structure is assembled here with forge's ASN.1 helpers.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { CertificateMaterialError } from '../errors.ts';
import { orderChain, derToPem } from './x509.ts';
import { privateKeyToPkcs8Der } from './keys.ts';

const { asn1, pki } = forge;

/** The parts of node-forge used here that @types/node-forge does not declare. */
interface ForgeByteBuffer {
  getBytes(): string;
}
interface ForgeInternals {
  util: { ByteBuffer: new (bytes?: string) => ForgeByteBuffer & forge.util.ByteStringBuffer };
  pki: { pbe: { generatePkcs12Key(this: void, password: string | null, salt: ForgeByteBuffer, id: number, iter: number, n: number): ForgeByteBuffer } };
  /** forge's legacy DES API: `start(iv)` takes the IV buffer itself. */
  des: { createEncryptionCipher(key: ForgeByteBuffer): { start(iv: ForgeByteBuffer): void; update(data: ForgeByteBuffer): void; finish(): boolean; output: ForgeByteBuffer } };
}
const internals = forge as unknown as ForgeInternals;
const ByteBuffer = internals.util.ByteBuffer;
const generatePkcs12Key = internals.pki.pbe.generatePkcs12Key;
const ITERATIONS = 2000;
const MS_CSP_NAME_OID = '1.3.6.1.4.1.311.17.1';
const MS_CSP_NAME = 'Microsoft Enhanced RSA and AES Cryptographic Provider';

const bin = (b: Buffer): string => b.toString('binary');
const seq = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
const set = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items);
const oid = (o: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
const octets = (s: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, s);
const int = (n: number): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
const explicit0 = (inner: forge.asn1.Asn1): forge.asn1.Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const toDer = (a: forge.asn1.Asn1): string => asn1.toDer(a).getBytes();

/** PKCS#12 PBE with SHA-1 and 3-key 3DES-CBC, keyed from the null password. */
function tripleDesEncrypt(plain: string): { params: forge.asn1.Asn1; cipherText: string } {
  const salt = forge.random.getBytesSync(8);
  // null, not '': the zero-length password Key Vault uses.
  const key = generatePkcs12Key(null, new ByteBuffer(salt), 1, ITERATIONS, 24);
  const iv = generatePkcs12Key(null, new ByteBuffer(salt), 2, ITERATIONS, 8);
  const cipher = internals.des.createEncryptionCipher(key);
  cipher.start(iv);
  cipher.update(new ByteBuffer(plain));
  cipher.finish();
  const params = seq([oid(pki.oids['pbeWithSHAAnd3-KeyTripleDES-CBC'] ?? ''), seq([octets(salt), int(ITERATIONS)])]);
  return { params, cipherText: cipher.output.getBytes() };
}

function bagAttributes(localKeyId: string | undefined, friendlyName: string | undefined, withCsp: boolean): forge.asn1.Asn1 | undefined {
  const attrs: forge.asn1.Asn1[] = [];
  if (localKeyId !== undefined) attrs.push(seq([oid(pki.oids.localKeyId ?? ''), set([octets(localKeyId)])]));
  if (friendlyName !== undefined) {
    attrs.push(seq([oid(pki.oids.friendlyName ?? ''), set([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, friendlyName)])]));
  }
  if (withCsp) attrs.push(seq([oid(MS_CSP_NAME_OID), set([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, MS_CSP_NAME)])]));
  return attrs.length > 0 ? set(attrs) : undefined;
}

/**
 * Builds a Key-Vault-like PFX: `certsDer` is leaf first; the PFX stores them issuer-first (root → leaf),
 * as Key Vault's generated PFX files do. Returns the DER bytes (callers base64 them for the secret).
 */
export function buildKeyVaultPfx(keyPkcs8Der: Buffer | undefined, certsDer: Buffer[], friendlyName?: string): Buffer {
  const localKeyId = keyPkcs8Der === undefined ? undefined : forge.random.getBytesSync(20);
  const contentInfos: forge.asn1.Asn1[] = [];
  if (keyPkcs8Der !== undefined) {
    // Key bag: EncryptedPrivateKeyInfo { algorithm, encryptedData }.
    const keyEnc = tripleDesEncrypt(bin(keyPkcs8Der));
    const attrs = bagAttributes(localKeyId, friendlyName, true);
    const keyBag = seq([oid(pki.oids.pkcs8ShroudedKeyBag ?? ''), explicit0(seq([keyEnc.params, octets(keyEnc.cipherText)])), ...(attrs === undefined ? [] : [attrs])]);
    // Key Vault puts the key first, then the certificates.
    contentInfos.push(seq([oid(pki.oids.data ?? ''), explicit0(octets(toDer(seq([keyBag]))))]));
  }

  const certBags = [...certsDer].reverse().map((der, i, all) => {
    const isLeaf = i === all.length - 1;
    const attrs = isLeaf ? bagAttributes(localKeyId, localKeyId === undefined ? undefined : friendlyName, false) : undefined;
    return seq([
      oid(pki.oids.certBag ?? ''),
      explicit0(seq([oid(pki.oids.x509Certificate ?? ''), explicit0(octets(bin(der)))])),
      ...(attrs === undefined ? [] : [attrs]),
    ]);
  });
  const certEnc = tripleDesEncrypt(toDer(seq(certBags)));
  // EncryptedData { version 0, EncryptedContentInfo { data, algorithm, [0] IMPLICIT encryptedContent } }.
  const encryptedData = seq([
    int(0),
    seq([oid(pki.oids.data ?? ''), certEnc.params, asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, certEnc.cipherText)]),
  ]);
  contentInfos.push(seq([oid(pki.oids.encryptedData ?? ''), explicit0(encryptedData)]));
  const authSafe = seq(contentInfos);
  const authSafeDer = toDer(authSafe);
  const macSalt = forge.random.getBytesSync(20);
  const macKey = generatePkcs12Key(null, new ByteBuffer(macSalt), 3, ITERATIONS, 20);
  const hmac = forge.hmac.create();
  hmac.start('sha1', macKey.getBytes());
  hmac.update(authSafeDer);
  const macData = seq([
    seq([seq([oid(pki.oids.sha1 ?? ''), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), octets(hmac.digest().getBytes())]),
    octets(macSalt),
    int(ITERATIONS),
  ]);
  const pfx = seq([int(3), seq([oid(pki.oids.data ?? ''), explicit0(octets(authSafeDer))]), macData]);
  return Buffer.from(toDer(pfx), 'binary');
}

/** PEM bundle as Key Vault returns it: PKCS#8 key first, then the certificates leaf first. */
export function buildPemBundle(keyPkcs8Der: Buffer | undefined, certsDer: Buffer[]): string {
  const key = keyPkcs8Der === undefined ? '' : createPrivateKey({ key: keyPkcs8Der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
  return key + certsDer.map(derToPem).join('');
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

export { privateKeyToPkcs8Der };

/**
 * PKCS#12 (PFX) encoding, for `objectFormat: pfx` output and for test fixtures.
 *
 * node-forge's `toPkcs12Asn1` takes RSA keys only and leaves certificates unencrypted, so the
 * structure (RFC 7292) is assembled here with forge's ASN.1 helpers; encryption uses node:crypto and
 * pkcs12-kdf.ts. Three profiles:
 *
 * - `3des`: what Key Vault exports — certificates in EncryptedData and the key in a
 *   pkcs8ShroudedKeyBag, both pbeWithSHAAnd3-KeyTripleDES-CBC, SHA-1 MAC. With `password: null`
 *   the result opens only with *no* password, exactly like a Key Vault PFX.
 * - `aes256`: OpenSSL 3's default — PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), SHA-256 MAC.
 * - `none`: no encryption, MAC only (`openssl pkcs12 -keypbe NONE -certpbe NONE`).
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { PkiError } from './errors.ts';
import { pkcs12Kdf } from './pkcs12-kdf.ts';

export type PfxEncryption = '3des' | 'aes256' | 'none';

export interface PfxWriteOptions {
  /**
   * `null` (default): no password at all, as Key Vault does. A string (possibly `""`): that
   * password. `aes256` needs a string (PBKDF2 has no "no password").
   */
  password?: string | null;
  /** Default: `3des` with a null password, `aes256` with a string password. */
  encryption?: PfxEncryption;
  /** PBE and MAC iteration count; default 2048 (OpenSSL 3's default; Key Vault uses 2000). */
  iterations?: number;
  /** friendlyName attribute of the key and leaf bags. */
  friendlyName?: string;
  /**
   * Order of the certificate bags in the file. `leaf-first` (default): as given. `root-first`: reversed,
   * the way Key Vault's generated PFX files store the chain. Either way `certificates[0]` is the leaf
   * (it gets the localKeyId and friendlyName).
   */
  certificateOrder?: 'leaf-first' | 'root-first';
}

const { asn1 } = forge;
const UNIVERSAL = asn1.Class.UNIVERSAL;
const CONTEXT = asn1.Class.CONTEXT_SPECIFIC;

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbeWithSHAAnd3KeyTripleDESCBC: '1.2.840.113549.1.12.1.3',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256CBC: '2.16.840.1.101.3.4.1.42',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

type Node = forge.asn1.Asn1;
const seq = (...v: Node[]): Node => asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, v);
const set = (...v: Node[]): Node => asn1.create(UNIVERSAL, asn1.Type.SET, true, v);
const oid = (o: string): Node => asn1.create(UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
const octets = (b: Buffer): Node => asn1.create(UNIVERSAL, asn1.Type.OCTETSTRING, false, b.toString('binary'));
const int = (n: number): Node => asn1.create(UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
const nul = (): Node => asn1.create(UNIVERSAL, asn1.Type.NULL, false, '');
const explicit0 = (v: Node): Node => asn1.create(CONTEXT, 0, true, [v]);
const derOf = (n: Node): Buffer => Buffer.from(asn1.toDer(n).getBytes(), 'binary');
const parse = (b: Buffer): Node => asn1.fromDer(b.toString('binary'));

/** forge encodes a BMPSTRING's JS string value as UTF-16BE itself. */
const bmpString = (s: string): Node => asn1.create(UNIVERSAL, asn1.Type.BMPSTRING, false, s);

interface Encrypted {
  algorithm: Node;
  ciphertext: Buffer;
}

function encrypt(plain: Buffer, password: string | null, encryption: '3des' | 'aes256', iterations: number): Encrypted {
  const salt = randomBytes(encryption === '3des' ? 8 : 16);
  if (encryption === '3des') {
    const key = pkcs12Kdf(password, salt, 1, iterations, 24, 'sha1');
    const iv = pkcs12Kdf(password, salt, 2, iterations, 8, 'sha1');
    const cipher = createCipheriv('des-ede3-cbc', key, iv);
    return {
      algorithm: seq(oid(OID.pbeWithSHAAnd3KeyTripleDESCBC), seq(octets(salt), int(iterations))),
      ciphertext: Buffer.concat([cipher.update(plain), cipher.final()]),
    };
  }
  if (password === null) {
    throw new PkiError('UnsupportedFormat', 'PFX encryption aes256 needs a password (use "" or the 3des profile)');
  }
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const kdf = seq(oid(OID.pbkdf2), seq(octets(salt), int(iterations), seq(oid(OID.hmacWithSHA256), nul())));
  return {
    algorithm: seq(oid(OID.pbes2), seq(kdf, seq(oid(OID.aes256CBC), octets(iv)))),
    ciphertext: Buffer.concat([cipher.update(plain), cipher.final()]),
  };
}

function bagAttributes(localKeyId: Buffer | undefined, friendlyName: string | undefined): Node[] {
  const attrs: Node[] = [];
  if (friendlyName !== undefined) attrs.push(seq(oid(OID.friendlyName), set(bmpString(friendlyName))));
  if (localKeyId !== undefined) attrs.push(seq(oid(OID.localKeyId), set(octets(localKeyId))));
  return attrs.length > 0 ? [set(...attrs)] : [];
}

function dataContentInfo(content: Buffer): Node {
  return seq(oid(OID.data), explicit0(octets(content)));
}

/**
 * Builds a PFX holding `certificates` (DER; the first is the leaf) and optionally `privateKeyPkcs8`
 * (DER PKCS#8 of the leaf's key).
 *
 * @throws PkiError `UnsupportedFormat` for `aes256` with a null password.
 */
export function writePfx(certificates: Buffer[], privateKeyPkcs8: Buffer | undefined, opts: PfxWriteOptions = {}): Buffer {
  const password = opts.password ?? null;
  const encryption: PfxEncryption = opts.encryption ?? (password === null ? '3des' : 'aes256');
  const iterations = opts.iterations ?? 2048;
  const leaf = certificates[0];
  const localKeyId = leaf !== undefined && privateKeyPkcs8 !== undefined ? createHash('sha1').update(leaf).digest() : undefined;

  const certBags = certificates.map((der, i) =>
    seq(
      oid(OID.certBag),
      explicit0(seq(oid(OID.x509Certificate), explicit0(octets(der)))),
      ...(i === 0 ? bagAttributes(localKeyId, opts.friendlyName) : []),
    ),
  );
  if (opts.certificateOrder === 'root-first') certBags.reverse();
  const certSafe = derOf(seq(...certBags));
  const safes: Node[] = [];
  if (encryption === 'none') {
    safes.push(dataContentInfo(certSafe));
  } else {
    const enc = encrypt(certSafe, password, encryption, iterations);
    const encryptedContentInfo = seq(oid(OID.data), enc.algorithm, asn1.create(CONTEXT, 0, false, enc.ciphertext.toString('binary')));
    safes.push(seq(oid(OID.encryptedData), explicit0(seq(int(0), encryptedContentInfo))));
  }

  if (privateKeyPkcs8 !== undefined) {
    let keyBag: Node;
    if (encryption === 'none') {
      keyBag = seq(oid(OID.keyBag), explicit0(parse(privateKeyPkcs8)), ...bagAttributes(localKeyId, opts.friendlyName));
    } else {
      const enc = encrypt(privateKeyPkcs8, password, encryption, iterations);
      const encryptedPrivateKeyInfo = seq(enc.algorithm, octets(enc.ciphertext));
      keyBag = seq(oid(OID.pkcs8ShroudedKeyBag), explicit0(encryptedPrivateKeyInfo), ...bagAttributes(localKeyId, opts.friendlyName));
    }
    safes.push(dataContentInfo(derOf(seq(keyBag))));
  }

  const authSafe = derOf(seq(...safes));
  const macMd = encryption === 'aes256' ? 'sha256' : 'sha1';
  const macSalt = randomBytes(macMd === 'sha256' ? 16 : 20);
  const macKey = pkcs12Kdf(password, macSalt, 3, iterations, macMd === 'sha256' ? 32 : 20, macMd);
  const mac = createHmac(macMd, macKey).update(authSafe).digest();
  const macData = seq(seq(seq(oid(macMd === 'sha256' ? OID.sha256 : OID.sha1), nul()), octets(mac)), octets(macSalt), int(iterations));

  return derOf(seq(int(3), dataContentInfo(authSafe), macData));
}

/**
 * Private keys: reading PKCS#8 / PKCS#1 / SEC1 (plain or encrypted), writing the requested format,
 * and matching a key to a certificate. Everything goes through node:crypto `KeyObject`s, which hold
 * RSA and EC keys alike (node-forge reads RSA only).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { PkiError } from './errors.ts';
import type { KeyType } from './certificate.ts';
import type { PemBlock } from './pem.ts';

/** Output format of `tls.key`. `pkcs1` exists for RSA only, `sec1` for EC only. */
export type KeyFormat = 'pkcs8' | 'pkcs1' | 'sec1';

export const KEY_FORMATS: readonly KeyFormat[] = ['pkcs8', 'pkcs1', 'sec1'];

/** The DER encodings node:crypto reads, by PEM label. */
const DER_TYPE_BY_LABEL: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/**
 * Reads a DER private key.
 *
 * @throws PkiError `InvalidPrivateKey` when it does not parse; `UnsupportedFormat` when it is neither
 *   RSA nor EC.
 */
export function parsePrivateKeyDer(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1', where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type });
  } catch {
    throw new PkiError('InvalidPrivateKey', `${where} is not a valid ${type.toUpperCase()} private key`);
  }
  privateKeyType(key);
  return key;
}

/**
 * Reads a private key PEM block: `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`, and the
 * encrypted forms (`ENCRYPTED PRIVATE KEY`, or a legacy block with `Proc-Type: 4,ENCRYPTED`),
 * which need `password`.
 *
 * @throws PkiError `BadPassword` for an encrypted key without password or with a wrong one;
 *   `InvalidPrivateKey` when it does not parse; `UnsupportedFormat` for an unknown label or a key that
 *   is neither RSA nor EC.
 */
export function parsePrivateKeyPem(block: PemBlock, password: string | undefined, where: string): KeyObject {
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || (block.headers['Proc-Type'] ?? '').includes('ENCRYPTED');
  if (encrypted) {
    if (password === undefined || password === '') {
      throw new PkiError('BadPassword', `${where} is an encrypted private key and no password was given`);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: block.text, format: 'pem', passphrase: password });
    } catch {
      throw new PkiError('BadPassword', `${where}: the private key could not be decrypted (wrong password?)`);
    }
    privateKeyType(key);
    return key;
  }
  const type = DER_TYPE_BY_LABEL[block.label];
  if (type === undefined) {
    throw new PkiError('UnsupportedFormat', `${where}: PEM "${block.label}" is not a supported private key type`);
  }
  return parsePrivateKeyDer(block.der, type, where);
}

/** RSA (including RSA-PSS) or EC. @throws PkiError `UnsupportedFormat` otherwise. */
export function privateKeyType(key: KeyObject): KeyType {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') return 'RSA';
  if (type === 'ec') return 'EC';
  throw new PkiError('UnsupportedFormat', `private key type ${type ?? 'unknown'} is not supported; only RSA and EC are`);
}

/**
 * The key as PEM in `format`: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`, RSA only) or SEC1
 * (`EC PRIVATE KEY`, EC only).
 *
 * @throws PkiError `UnsupportedKeyFormat` when the format does not exist for the key type.
 */
export function exportPrivateKeyPem(key: KeyObject, format: KeyFormat): string {
  const keyType = privateKeyType(key);
  if (format === 'pkcs1' && (keyType !== 'RSA' || key.asymmetricKeyType === 'rsa-pss')) {
    throw new PkiError('UnsupportedKeyFormat', `key format pkcs1 is only for RSA keys; this key is ${keyType}`);
  }
  if (format === 'sec1' && keyType !== 'EC') {
    throw new PkiError('UnsupportedKeyFormat', `key format sec1 is only for EC keys; this key is ${keyType}`);
  }
  return key.export({ format: 'pem', type: format }) as string;
}

/** The key as PKCS#8 DER (what a PKCS#12 key bag holds). */
export function privateKeyToPkcs8Der(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'pkcs8' });
}

/** True when `key` is the private half of `cert`'s public key. */
export function keyMatchesCertificate(key: KeyObject, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** A stable identity of the key pair (SHA-256 of the public key's SPKI), to drop repeated keys. */
export function keyPairId(key: KeyObject): string {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(spki).digest('hex');
}

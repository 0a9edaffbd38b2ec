/**
 * Key material for the emulator: generation (RSA, EC), conversion between node:crypto KeyObjects,
 * PKCS#8 DER and WebCrypto keys (for @peculiar/x509 signing), and Key Vault's public JWK.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, type webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { KeyVaultError } from '../errors.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyFamily = 'RSA' | 'EC';
export type CurveName = 'P-256' | 'P-384' | 'P-521' | 'P-256K';
/** Curves of certificates (signed through WebCrypto, which has no secp256k1). */
export const CURVES: readonly CurveName[] = ['P-256', 'P-384', 'P-521'];
/** Curves of keys. */
export const KEY_CURVES: readonly CurveName[] = [...CURVES, 'P-256K'];

export interface KeySpec {
  family: KeyFamily;
  /** RSA modulus length (2048, 3072, 4096). */
  keySize?: number;
  /** EC curve. */
  curve?: CurveName;
}

const curveOid: Record<CurveName, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1', 'P-256K': 'secp256k1' };

/**
 * Maps Key Vault's `kty`/`key_size`/`crv` to a spec; throws Key Vault's 400 for unsupported ones
 * (P-256K only for keys: it is not available in WebCrypto, which signs certificates).
 */
export function keySpecFrom(kty: string | undefined, keySize: number | undefined, crv: string | undefined, curves: readonly CurveName[] = CURVES): KeySpec {
  const family = (kty ?? 'RSA').replace(/-HSM$/, '');
  if (family === 'RSA') {
    const size = keySize ?? 2048;
    if (![2048, 3072, 4096].includes(size)) {
      throw new KeyVaultError(400, 'BadParameter', `The specified key size ${size} is not supported.`);
    }
    return { family: 'RSA', keySize: size };
  }
  if (family === 'EC') {
    const curve = crv ?? 'P-256';
    if (!(curves as readonly string[]).includes(curve)) {
      throw new KeyVaultError(400, 'BadParameter', `The specified curve ${curve} is not supported by the emulator.`);
    }
    return { family: 'EC', curve: curve as CurveName };
  }
  throw new KeyVaultError(400, 'BadParameter', `Key type '${kty ?? ''}' is not supported.`);
}

/** Generates a key pair off the event loop; returns the private key as a KeyObject. */
export async function generatePrivateKey(spec: KeySpec): Promise<KeyObject> {
  if (spec.family === 'RSA') {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: spec.keySize ?? 2048 });
    return privateKey;
  }
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: curveOid[spec.curve ?? 'P-256'] });
  return privateKey;
}

/** PKCS#8 DER of a private key: src/pki's, re-exported for the emulator's key store. */
export { privateKeyToPkcs8Der } from '../../pki/bundle.ts';

export function privateKeyFromPkcs8Der(der: Buffer): KeyObject {
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** What Key Vault reports about a key: `kty`, `key_size` or `crv`. */
export function describeKey(key: KeyObject): KeySpec {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return { family: 'RSA', keySize: details.modulusLength ?? 2048 };
  if (key.asymmetricKeyType === 'ec') {
    const byOid: Record<string, CurveName> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    const curve = byOid[details.namedCurve ?? ''];
    if (curve === undefined) throw new KeyVaultError(400, 'BadParameter', `Unsupported EC curve ${details.namedCurve ?? '?'}.`);
    return { family: 'EC', curve };
  }
  throw new KeyVaultError(400, 'BadParameter', `Unsupported key type ${key.asymmetricKeyType ?? '?'}.`);
}

function webCryptoAlgorithm(spec: KeySpec): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  return spec.family === 'RSA'
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: spec.curve ?? 'P-256' };
}

/** The signature algorithm a certificate signed by this key uses (SHA-256 for RSA, curve-sized for EC). */
export function signingAlgorithm(spec: KeySpec): webcrypto.Algorithm | webcrypto.EcdsaParams {
  if (spec.family === 'RSA') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const hash = spec.curve === 'P-384' ? 'SHA-384' : spec.curve === 'P-521' ? 'SHA-512' : 'SHA-256';
  return { name: 'ECDSA', hash };
}

export function toWebCryptoPrivate(key: KeyObject): webcrypto.CryptoKey {
  return key.toCryptoKey(webCryptoAlgorithm(describeKey(key)), true, ['sign']);
}

export function toWebCryptoPublic(key: KeyObject): webcrypto.CryptoKey {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return pub.toCryptoKey(webCryptoAlgorithm(describeKey(pub)), true, ['verify']);
}

/** Key Vault's JSON web key (public part only: the emulator never exports private keys over the data plane). */
export interface PublicJwk {
  kid: string;
  kty: string;
  key_ops: string[];
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

export function publicJwk(key: KeyObject, kid: string, kty: string, keyOps: string[]): PublicJwk {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const base: PublicJwk = { kid, kty, key_ops: keyOps };
  if (jwk.kty === 'RSA') return { ...base, n: jwk.n, e: jwk.e };
  return { ...base, crv: jwk.crv === 'secp256k1' ? 'P-256K' : jwk.crv, x: jwk.x, y: jwk.y };
}

/**
 * PKCS#12 (PFX) decoding with node-forge.
 *
 * node:crypto cannot open a PKCS#12 file (Node's `tls` can use one, but exposes neither key nor
 * certificates, and rejects the RC2-40 `-legacy` files), so node-forge does the decoding: PBES2
 * with AES or 3DES (OpenSSL 3's default), the legacy PKCS#12 PBEs 3DES and RC2-40, unencrypted
 * bags, `pkcs8ShroudedKeyBag` and `keyBag`, and MACs with SHA-1/SHA-2.
 *
 * Passwords (RFC 7292 B.1): Key Vault protects its PFX exports with *no* password at all (an empty
 * BMPString), OpenSSL and lowkey-vault with the empty password `""` (the BMPString `00 00`); the two
 * derive different keys. Without a password both are tried, null first; with `""`, `""` then null.
 *
 * Bounds: node-forge has no option to limit PBE iteration counts, and the PKCS#12 KDF costs
 * ~1-3 ms per 1000 iterations, so a hostile PFX claiming 2^31 iterations would hold
 * the event loop for hours. During the one synchronous `pkcs12FromAsn1` call the key derivation
 * functions on the forge module are wrapped to charge every derivation against
 * `maxPbeIterations`/`maxTotalPbeIterations` *before* it runs (this covers the MAC, encrypted
 * SafeContents and shrouded key bags at any nesting depth). The same wrapping makes forge hand back
 * every certificate and key as raw ASN.1 (forge's own fallback for EC), so RSA
 * and EC take one path into node:crypto and certificates keep their original DER. The originals are
 * restored in `finally`; nothing else can run in between because the call is synchronous. The
 * wrappers also compute the derivations with node:crypto (pkcs12-kdf.ts, about 1.5-2x faster than
 * forge's JavaScript SHA; and native PBKDF2, which forge skips when handed a digest object, ~4x).
 * These are forge internals, not an API: node-forge is pinned to an exact version in package.json,
 * and the unit test fails, naming this patch, when one of the wrapped functions changes shape.
 */
import { pbkdf2Sync } from 'node:crypto';
import forge from 'node-forge';
import { PkiError } from './errors.ts';
import { pkcs12Kdf } from './pkcs12-kdf.ts';
import type { PkiLimits } from './limits.ts';

/** The raw material of a PFX, in bag order. */
export interface PfxContents {
  /** DER X.509 certificates. */
  certificates: Buffer[];
  /** DER PKCS#8 PrivateKeyInfo, decrypted. */
  privateKeys: Buffer[];
}

/** forge 1.4's `fromDer` options (the bundled type declarations only know the boolean form). */
interface FromDerOptions {
  strict: boolean;
  parseAllBytes: boolean;
  decodeBitStrings: boolean;
}
const fromDer = forge.asn1.fromDer as unknown as (bytes: string, options: FromDerOptions) => forge.asn1.Asn1;

type Pkcs12KeyFn = (password: string | null | undefined, salt: unknown, id: number, iter: number, n: number, md?: unknown) => unknown;
type Pbkdf2Fn = (password: string, salt: string, iter: number, dkLen: number, md?: unknown, callback?: unknown) => unknown;
type ThrowingParser = (obj: forge.asn1.Asn1) => unknown;

/** The forge functions wrapped during a decode (all looked up as properties at call time by forge). */
interface ForgeHookPoints {
  pkcs12: { generateKey: Pkcs12KeyFn };
  pki: { pbe: { generatePkcs12Key: Pkcs12KeyFn }; certificateFromAsn1: ThrowingParser; privateKeyFromAsn1: ThrowingParser };
  pkcs5: { pbkdf2: Pbkdf2Fn };
}

/**
 * Decodes a DER PKCS#12 file.
 *
 * @param password `undefined`: try no password, then `""`. `""`: try `""`, then no password.
 *   Anything else: only that password.
 * @throws PkiError `BadPassword` when the MAC or decryption fails with every password tried;
 *   `UnsupportedFormat` for an algorithm node-forge does not implement (e.g. PBMAC1, RC2-128);
 *   `LimitExceeded` when an iteration count exceeds the limits; `InvalidCertificate` when the bytes
 *   are not a well-formed PKCS#12 file.
 */
export function decodePfx(der: Buffer, password: string | undefined, limits: PkiLimits): PfxContents {
  let asn1: forge.asn1.Asn1;
  try {
    // forge wants a "binary string" (one char per byte), not a Buffer or base64.
    asn1 = fromDer(der.toString('binary'), { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch {
    throw new PkiError('InvalidCertificate', 'input is not valid DER (truncated or corrupt PKCS#12 file?)');
  }

  const attempts: (string | undefined)[] = password === undefined ? [undefined, ''] : password === '' ? ['', undefined] : [password];
  const budget = { total: 0 };
  const failures: PkiError[] = [];
  for (const attempt of attempts) {
    try {
      const p12 = withForgeHooks(limits, budget, () => forge.pkcs12.pkcs12FromAsn1(asn1, false, attempt as string));
      return collectBags(p12);
    } catch (err) {
      if (err instanceof PkiError) throw err; // limits and our own classification: never retried
      failures.push(classifyForgeError(err));
      // Without a MAC nothing tells a wrong candidate from the right one until decryption: about one
      // wrong key in 256 leaves valid padding and garbage that fails to parse as anything but a bad
      // password. So the next candidate is always tried; a file that fails with every one is reported
      // by its most telling failure.
    }
  }
  throw failures.find((f) => f.reason !== 'BadPassword') ?? failures[0] ?? new PkiError('BadPassword', 'PKCS#12 password is wrong');
}

function collectBags(p12: forge.pkcs12.Pkcs12Pfx): PfxContents {
  const certificates: Buffer[] = [];
  const privateKeys: Buffer[] = [];
  for (const safe of p12.safeContents) {
    for (const bag of safe.safeBags) {
      if (bag.type === forge.pki.oids.certBag) {
        // With certificateFromAsn1 hooked to throw, forge leaves the certificate's ASN.1 in bag.asn1.
        const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
        certificates.push(asn1ToBuffer(asn1));
      } else if (bag.type === forge.pki.oids.pkcs8ShroudedKeyBag || bag.type === forge.pki.oids.keyBag) {
        // bag.asn1 is the (decrypted) PrivateKeyInfo; bag.key would only be set for RSA without the hook.
        const asn1 = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key)) : bag.asn1;
        privateKeys.push(asn1ToBuffer(asn1));
      }
    }
  }
  return { certificates, privateKeys };
}

function asn1ToBuffer(asn1: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** Runs `fn` with forge's key derivations metered and its RSA-only parsers disabled (see file comment). */
function withForgeHooks<T>(limits: PkiLimits, budget: { total: number }, fn: () => T): T {
  const hooks = forge as unknown as ForgeHookPoints;
  const original = {
    generateKey: hooks.pkcs12.generateKey,
    generatePkcs12Key: hooks.pki.pbe.generatePkcs12Key,
    pbkdf2: hooks.pkcs5.pbkdf2,
    certificateFromAsn1: hooks.pki.certificateFromAsn1,
    privateKeyFromAsn1: hooks.pki.privateKeyFromAsn1,
  };
  const charge = (iterations: number): void => {
    if (!Number.isSafeInteger(iterations) || iterations > limits.maxPbeIterations) {
      throw new PkiError(
        'LimitExceeded',
        `PKCS#12 iteration count ${Number.isSafeInteger(iterations) ? iterations : '(huge)'} exceeds the limit of ${limits.maxPbeIterations}`,
      );
    }
    budget.total += Math.max(iterations, 0);
    if (budget.total > limits.maxTotalPbeIterations) {
      throw new PkiError(
        'LimitExceeded',
        `PKCS#12 key derivations exceed the total limit of ${limits.maxTotalPbeIterations} iterations`,
      );
    }
  };
  const refuse: ThrowingParser = () => {
    throw new Error('kvsync: parsed by node:crypto instead');
  };
  const pkcs12Key =
    (fallback: Pkcs12KeyFn): Pkcs12KeyFn =>
    (password, salt, id, iter, n, md) => {
      charge(iter);
      // node:crypto hashing instead of forge's JavaScript SHA (1.5-2x faster); same bytes (tested).
      const digest = md === undefined || md === null ? 'sha1' : nativeDigest(md);
      const saltBytes = typeof salt === 'string' ? salt : isByteBuffer(salt) ? salt.bytes() : undefined;
      if (digest === undefined || saltBytes === undefined || (id !== 1 && id !== 2 && id !== 3)) {
        return fallback(password, salt, id, iter, n, md);
      }
      const key = pkcs12Kdf(password ?? null, Buffer.from(saltBytes, 'binary'), id, iter, n, digest);
      return forge.util.createBuffer(key.toString('binary'));
    };
  hooks.pkcs12.generateKey = pkcs12Key(original.generateKey);
  hooks.pki.pbe.generatePkcs12Key = pkcs12Key(original.generatePkcs12Key);
  hooks.pkcs5.pbkdf2 = (password, salt, iter, dkLen, md, callback) => {
    charge(iter);
    // PBES2 inside PKCS#12 feeds PBKDF2 the UTF-8 bytes of the password (OpenSSL, RFC 8018), while
    // the PKCS#12 KDF wants the Unicode string (it makes a BMPString). forge passes the same JS
    // string to both and reads it as one byte per char here, so encode it for PBKDF2 only.
    const utf8Password = forge.util.encodeUtf8(password);
    const digest = nativeDigest(md);
    if (digest !== undefined && callback === undefined) {
      // forge hands PBES2 a forge digest object, which sends it down its much slower pure-JS PBKDF2.
      return pbkdf2Sync(Buffer.from(utf8Password, 'binary'), Buffer.from(salt, 'binary'), iter, dkLen, digest).toString('binary');
    }
    return original.pbkdf2(utf8Password, salt, iter, dkLen, md, callback);
  };
  hooks.pki.certificateFromAsn1 = refuse;
  hooks.pki.privateKeyFromAsn1 = refuse;
  try {
    return fn();
  } finally {
    hooks.pkcs12.generateKey = original.generateKey;
    hooks.pki.pbe.generatePkcs12Key = original.generatePkcs12Key;
    hooks.pkcs5.pbkdf2 = original.pbkdf2;
    hooks.pki.certificateFromAsn1 = original.certificateFromAsn1;
    hooks.pki.privateKeyFromAsn1 = original.privateKeyFromAsn1;
  }
}

function isByteBuffer(value: unknown): value is forge.util.ByteStringBuffer {
  return typeof value === 'object' && value !== null && 'bytes' in value && typeof value.bytes === 'function';
}

/**
 * The node:crypto name of a forge message digest, for the digests whose forge and OpenSSL meaning
 * agree. (forge maps hmacWithSHA224 to SHA-512/224; that case is left to forge.)
 */
function nativeDigest(md: unknown): 'sha1' | 'sha256' | 'sha384' | 'sha512' | undefined {
  const algorithm = typeof md === 'object' && md !== null && 'algorithm' in md ? md.algorithm : undefined;
  return algorithm === 'sha1' || algorithm === 'sha256' || algorithm === 'sha384' || algorithm === 'sha512' ? algorithm : undefined;
}

/**
 * Maps a node-forge error to a PkiError. forge's messages are fixed strings, but only our own text
 * goes into the PkiError: forge attaches extra properties (OIDs, byte strings) that must not leak.
 */
function classifyForgeError(err: unknown): PkiError {
  const message = err instanceof Error ? err.message : '';
  if (/MAC could not be verified|wrong password|Failed to decrypt|Invalid password/i.test(message)) {
    return new PkiError('BadPassword', 'PKCS#12 password is wrong (MAC or decryption failed)');
  }
  if (/unsupported MAC algorithm/i.test(message)) {
    return new PkiError('UnsupportedFormat', 'PKCS#12 MAC algorithm is not supported (PBMAC1?); re-export with a SHA-1/SHA-256 MAC');
  }
  if (/Unsupported OID|Unsupported PBE|Unsupported PBES2|Unsupported encryption scheme|PBKDF2|encryption algorithm/i.test(message)) {
    return new PkiError(
      'UnsupportedFormat',
      'PKCS#12 encryption algorithm is not supported (supported: PBES2 with AES/3DES, PBE-SHA1-3DES, PBE-SHA1-RC2-40, none)',
    );
  }
  if (/Unsupported certificate type|SafeBag type/i.test(message)) {
    return new PkiError('UnsupportedFormat', 'PKCS#12 file contains a bag type that is not supported');
  }
  return new PkiError('InvalidCertificate', 'input is not a valid PKCS#12 file');
}

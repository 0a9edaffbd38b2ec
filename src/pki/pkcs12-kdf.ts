/**
 * The PKCS#12 key derivation function (RFC 7292 appendix B.2) on node:crypto hashes.
 *
 * It derives the MAC key and the keys/IVs of the legacy PKCS#12 PBEs (3DES, RC2). node:crypto does
 * not offer it and node-forge's version hashes in JavaScript; with node:crypto's one-shot `hash()`
 * this one is about 1.5-2x faster (measured with 2000 iterations, SHA-1 and SHA-256). pfx.ts
 * substitutes it during decoding and pfx-writer.ts uses it directly. Tested byte-for-byte against forge.
 */
import { createHash, hash } from 'node:crypto';

export type Pkcs12KdfDigest = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const SIZES: Record<Pkcs12KdfDigest, { u: number; v: number }> = {
  sha1: { u: 20, v: 64 },
  sha256: { u: 32, v: 64 },
  sha384: { u: 48, v: 128 },
  sha512: { u: 64, v: 128 },
};

/** `password` as RFC 7292 wants it: UTF-16BE with a 2-byte terminator; `null` = no password (empty). */
function passwordBytes(password: string | null): Buffer {
  if (password === null) return Buffer.alloc(0);
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** `data` repeated to fill a multiple of `v` bytes (empty stays empty). */
function fill(data: Buffer, v: number): Buffer {
  if (data.length === 0) return data;
  const out = Buffer.alloc(v * Math.ceil(data.length / v));
  for (let i = 0; i < out.length; i++) out[i] = data[i % data.length]!;
  return out;
}

/**
 * Derives `length` bytes for purpose `id` (1 key, 2 IV, 3 MAC key).
 *
 * @param iterations at least 1 (with 0 the output would not depend on the password).
 */
export function pkcs12Kdf(password: string | null, salt: Buffer, id: 1 | 2 | 3, iterations: number, length: number, digest: Pkcs12KdfDigest): Buffer {
  if (!(iterations >= 1)) throw new RangeError('PKCS#12 KDF iteration count must be >= 1');
  const { u, v } = SIZES[digest];
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt, v), fill(passwordBytes(password), v)]);
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += u) {
    let A = createHash(digest).update(D).update(I).digest();
    // One-shot hash(): no Hash object per round, which is what makes this faster than forge.
    for (let r = 1; r < iterations; r++) A = hash(digest, A, 'buffer');
    A.copy(out, offset, 0, Math.min(u, length - offset));
    if (offset + u >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I, with B = A repeated to v bytes.
    const B = fill(A, v);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return out;
}

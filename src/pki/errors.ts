/**
 * Typed errors of `src/pki`. Every failure carries a `reason` short enough for a Kubernetes status
 * condition (`Ready=False, reason=KeyMismatch`) and a message a person can act on.
 *
 * Contract: messages name formats, counts, subjects and algorithms only. They never contain key
 * material, certificate bytes, or a password, and no underlying error (which might) is attached as
 * `cause`.
 */
import { KvsyncError } from '../util/errors.ts';

/** Why a certificate bundle could not be turned into TLS material. */
export type PkiErrorReason =
  /** No certificate found, or a certificate that does not parse. */
  | 'InvalidCertificate'
  /** A private key that does not parse. */
  | 'InvalidPrivateKey'
  /** The private key matches no certificate in the bundle. */
  | 'KeyMismatch'
  /** Not PEM/PKCS#12/DER, or an algorithm or key type this code does not read. */
  | 'UnsupportedFormat'
  /** The PKCS#12 password is wrong (MAC or decryption failed with every password tried). */
  | 'BadPassword'
  /** A private key was required (PFX output, `requirePrivateKey`) but the source has none. */
  | 'NoPrivateKey'
  /** A key format that does not exist for this key type (PKCS#1 for EC, SEC1 for RSA). */
  | 'UnsupportedKeyFormat'
  /** An input limit (size, certificate count, PKCS#12 iteration count) was exceeded. */
  | 'LimitExceeded'
  /** Decoding took longer or more memory than a decode may (decode-pool.ts), or the decoder is saturated. */
  | 'TooExpensive';

export class PkiError extends KvsyncError<PkiErrorReason> {
  override readonly name = 'PkiError';
}

/** True when `err` is a {@link PkiError}, optionally with the given reason. */
export function isPkiError(err: unknown, reason?: PkiErrorReason): err is PkiError {
  return err instanceof PkiError && (reason === undefined || err.reason === reason);
}

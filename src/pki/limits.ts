/**
 * Input bounds for certificate parsing. Certificate content comes from Key Vault secrets and user
 * files, i.e. from outside the trust boundary: without bounds a hostile bundle could make the
 * operator parse megabytes of PEM, verify thousands of signatures, or spend minutes in PKCS#12 key
 * derivation (the PKCS#12 KDF costs ~1-3 ms per 1000 iterations on a busy 2-core machine, and an
 * iteration count is a 32-bit field).
 */
export interface PkiLimits {
  /** Largest accepted input, in bytes (a Key Vault secret is at most 25 KiB). */
  maxInputBytes: number;
  /** Most certificates in one bundle, after removing duplicates. */
  maxCertificates: number;
  /** Most PEM blocks of any kind in one bundle. */
  maxPemBlocks: number;
  /** Largest iteration count of any single PKCS#12/PBKDF2 key derivation (MAC or encryption). */
  maxPbeIterations: number;
  /** Largest sum of iteration counts over a whole PKCS#12 decode, all passwords tried included. */
  maxTotalPbeIterations: number;
}

/**
 * Defaults: 256 KiB, 32 certificates, 128 PEM blocks; 100 000 iterations per derivation (Key Vault
 * and Windows use 2000, OpenSSL 3 2048, Java 10 000) and 300 000 in total (about one second of CPU
 * in the worst case).
 */
export const DEFAULT_PKI_LIMITS: Readonly<PkiLimits> = Object.freeze({
  maxInputBytes: 256 * 1024,
  maxCertificates: 32,
  maxPemBlocks: 128,
  maxPbeIterations: 100_000,
  maxTotalPbeIterations: 300_000,
});

/** Defaults overridden by whatever `overrides` sets. */
export function resolveLimits(overrides?: Partial<PkiLimits>): PkiLimits {
  return { ...DEFAULT_PKI_LIMITS, ...overrides };
}

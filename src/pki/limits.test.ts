import { describe, expect, it } from 'vitest';
import { DEFAULT_PKI_LIMITS, resolveLimits } from './limits.ts';

describe('limits', () => {
  it('defaults, overridable field by field', () => {
    expect(resolveLimits()).toEqual(DEFAULT_PKI_LIMITS);
    expect(resolveLimits({ maxCertificates: 3 })).toEqual({ ...DEFAULT_PKI_LIMITS, maxCertificates: 3 });
    expect(Object.isFrozen(DEFAULT_PKI_LIMITS)).toBe(true);
  });

  it('admits the iteration counts real exporters use (Key Vault 2000, OpenSSL 2048, Java 10000)', () => {
    expect(DEFAULT_PKI_LIMITS.maxPbeIterations).toBeGreaterThanOrEqual(10_000);
    // Two passwords tried (MAC each) plus two encrypted bags at Java's 10 000 must fit the total.
    expect(DEFAULT_PKI_LIMITS.maxTotalPbeIterations).toBeGreaterThanOrEqual(4 * 10_000);
  });
});

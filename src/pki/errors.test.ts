import { describe, expect, it } from 'vitest';
import { isPkiError, PkiError } from './errors.ts';

describe('PkiError', () => {
  it('carries a reason for status conditions', () => {
    const err = new PkiError('KeyMismatch', 'the private key matches none of the 2 certificate(s)');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('PkiError');
    expect(err.reason).toBe('KeyMismatch');
    expect(String(err)).toBe('PkiError: the private key matches none of the 2 certificate(s)');
    expect(err.cause).toBeUndefined();
  });

  it('is recognised with or without a reason', () => {
    const err = new PkiError('BadPassword', 'x');
    expect(isPkiError(err)).toBe(true);
    expect(isPkiError(err, 'BadPassword')).toBe(true);
    expect(isPkiError(err, 'KeyMismatch')).toBe(false);
    expect(isPkiError(new Error('x'))).toBe(false);
    expect(isPkiError('BadPassword')).toBe(false);
  });
});

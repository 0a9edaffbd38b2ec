/** `kvsync controller --vault-requests-per-10s`: a positive integer, default 2,000. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_VAULT_REQUESTS_PER_10S } from '../keyvault/vault-guard.ts';
import { parseControllerArgs } from './command.ts';

describe('kvsync controller --vault-requests-per-10s', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('defaults to 2,000 (half of Key Vault\'s published 4,000 per 10 s) and takes a positive integer', () => {
    const defaults = parseControllerArgs([]);
    expect(DEFAULT_VAULT_REQUESTS_PER_10S).toBe(2000);
    expect(typeof defaults === 'number' ? defaults : defaults.values['vault-requests-per-10s']).toBe('2000');
    const custom = parseControllerArgs(['--vault-requests-per-10s', '50']);
    expect(typeof custom === 'number' ? custom : custom.values['vault-requests-per-10s']).toBe('50');
  });

  it('exits 2 for zero, a fraction or a word', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    for (const bad of ['0', '2.5', 'many', '-3']) expect(parseControllerArgs(['--vault-requests-per-10s', bad])).toBe(2);
    expect(errors.mock.calls[0]?.[0]).toContain('--vault-requests-per-10s must be a positive integer');
  });
});

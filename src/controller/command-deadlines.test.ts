/** `kvsync controller --max-workers-per-vault`, `--sync-timeout`, `--azure-request-timeout`. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseControllerArgs } from './command.ts';

describe('kvsync controller deadline and bulkhead flags', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('default to half the workers per vault (rounded up), a 2 min sync and a 30 s request', () => {
    const defaults = parseControllerArgs([]);
    expect(defaults).toMatchObject({ concurrency: 8, maxWorkersPerVault: 4, syncTimeoutMs: 120_000, azureRequestTimeoutMs: 30_000 });
    expect(parseControllerArgs(['--concurrency', '5'])).toMatchObject({ maxWorkersPerVault: 3 });
    expect(parseControllerArgs(['--max-workers-per-vault', '1', '--sync-timeout', '45s', '--azure-request-timeout', '1500ms'])).toMatchObject({ maxWorkersPerVault: 1, syncTimeoutMs: 45_000, azureRequestTimeoutMs: 1_500 });
  });

  it('exit 2 for a bulkhead that is not a positive integer or a deadline that is not a positive duration', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    for (const bad of ['0', '1.5', 'half']) expect(parseControllerArgs(['--max-workers-per-vault', bad])).toBe(2);
    for (const flag of ['--sync-timeout', '--azure-request-timeout']) for (const bad of ['0s', '30', 'soon']) expect(parseControllerArgs([flag, bad])).toBe(2);
    const said = errors.mock.calls.map((c) => String(c[0]));
    expect(said.some((m) => m.includes('--max-workers-per-vault must be a positive integer'))).toBe(true);
    expect(said.some((m) => m.includes('--azure-request-timeout must be a positive Go duration'))).toBe(true);
  });
});

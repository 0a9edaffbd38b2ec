/** `kvsync controller --expiry-warning-window`: parsed as a Go duration, refused when not positive. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseControllerArgs } from './command.ts';

describe('kvsync controller --expiry-warning-window', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('defaults to 720h (30 days) and takes a Go duration', () => {
    const defaults = parseControllerArgs([]);
    expect(typeof defaults === 'number' ? defaults : defaults.expiryWarningWindowMs).toBe(30 * 86_400_000);
    const custom = parseControllerArgs(['--expiry-warning-window', '48h']);
    expect(typeof custom === 'number' ? custom : custom.expiryWarningWindowMs).toBe(48 * 3_600_000);
  });

  it('exits 2 for zero or a value that is not a duration', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(parseControllerArgs(['--expiry-warning-window', '0'])).toBe(2);
    expect(parseControllerArgs(['--expiry-warning-window', '30d'])).toBe(2);
    expect(errors.mock.calls[0]?.[0]).toContain('--expiry-warning-window must be a positive Go duration');
  });
});

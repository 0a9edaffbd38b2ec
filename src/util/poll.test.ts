import { describe, expect, it } from 'vitest';
import { pollUntil, PollTimeoutError } from './poll.ts';

describe('pollUntil', () => {
  it('returns the first defined value', async () => {
    let n = 0;
    await expect(pollUntil(() => (++n >= 3 ? n : undefined), { timeoutMs: 1_000, intervalMs: 1, description: 'n' })).resolves.toBe(3);
  });

  it('times out naming what it waited for and the last error', async () => {
    const err = await pollUntil(
      () => {
        throw new Error('still broken');
      },
      { timeoutMs: 30, intervalMs: 5, description: 'the thing' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PollTimeoutError);
    expect((err as Error).message).toMatch(/waiting for the thing: last error: still broken/);
  });

  it('stops at once on a fatal error', async () => {
    let calls = 0;
    const fatal = new Error('process died');
    const err = await pollUntil(
      () => {
        calls++;
        throw fatal;
      },
      { timeoutMs: 5_000, intervalMs: 1, description: 'x', isFatal: (e) => e === fatal },
    ).catch((e: unknown) => e);
    expect(err).toBe(fatal);
    expect(calls).toBe(1);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VaultLimiter, bucketShape, throttleDelayMs } from './vault-limiter.ts';

describe('VaultLimiter (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('shapes the bucket so burst + 10 s of refill is the budget', () => {
    expect(bucketShape(50)).toEqual({ burst: 5, perMs: 45 / 10_000 });
    expect(bucketShape(2000)).toEqual({ burst: 200, perMs: 1800 / 10_000 });
    expect(bucketShape(1).burst).toBe(1);
    expect(() => new VaultLimiter({ requestsPer10s: 0 })).toThrow(RangeError);
    expect(() => new VaultLimiter({ requestsPer10s: 2.5 })).toThrow(RangeError);
  });

  it('never grants more than the budget in any 10 s span', async () => {
    const limiter = new VaultLimiter({ requestsPer10s: 50 });
    const grants: number[] = [];
    for (let i = 0; i < 200; i++) void limiter.acquire().then((t) => grants.push(t));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(grants.length).toBeGreaterThan(150);
    for (let i = 0; i < grants.length; i++) {
      const start = grants[i] ?? 0;
      const inSpan = grants.filter((t) => t >= start && t < start + 10_000).length;
      expect(inSpan).toBeLessThanOrEqual(50);
    }
    // …and keeps close to it: 50 per 10 s after the burst.
    expect(grants.filter((t) => t < 1_000_000 + 10_000).length).toBeGreaterThanOrEqual(49);
  });

  it('serves high-priority waiters first, FIFO within a priority', async () => {
    const limiter = new VaultLimiter({ requestsPer10s: 10 }); // burst 1, then one per 10/9 s
    await limiter.acquire();
    const order: string[] = [];
    for (const name of ['n1', 'n2']) void limiter.acquire('normal').then(() => order.push(name));
    for (const name of ['h1', 'h2']) void limiter.acquire('high').then(() => order.push(name));
    void limiter.acquire('normal').then(() => order.push('n3'));
    expect(limiter.waiting).toBe(5);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(order).toEqual(['h1', 'h2', 'n1', 'n2', 'n3']);
  });

  it('pauses the whole vault for Retry-After, then resumes with an empty bucket', async () => {
    const limiter = new VaultLimiter({ requestsPer10s: 100 }); // burst 10
    const sentAt = await limiter.acquire();
    expect(limiter.throttled(3000, sentAt)).toBe(3000);
    const grants: number[] = [];
    for (let i = 0; i < 3; i++) void limiter.acquire().then((t) => grants.push(t));
    await vi.advanceTimersByTimeAsync(2999);
    expect(grants).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    // The bucket restarts empty at the end of the pause: 9 per second from then on, not a burst of 10.
    expect(grants.length).toBeGreaterThanOrEqual(1);
    expect(grants.length).toBeLessThanOrEqual(3);
    expect(Math.min(...grants)).toBeGreaterThanOrEqual(sentAt + 3000);
  });

  it('grows the pause for repeated 429s, but not for 429s of requests sent before the pause', async () => {
    const limiter = new VaultLimiter({ requestsPer10s: 100, random: () => 1, backoffBaseMs: 1000 });
    // After a pause the bucket is empty: a token comes ~111 ms later.
    const take = async (): Promise<number> => {
      const granted = limiter.acquire('normal');
      await vi.advanceTimersByTimeAsync(200);
      return granted;
    };
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    expect(limiter.throttled(1000, a)).toBe(1000);
    // b was sent before the first 429 came back: same episode, no escalation.
    expect(limiter.throttled(1000, b)).toBe(1000);
    await vi.advanceTimersByTimeAsync(1000);
    const c = await take();
    // A repeat: backoff 2 s (random 1 → the upper bound).
    expect(limiter.throttled(1000, c)).toBe(2000);
    await vi.advanceTimersByTimeAsync(2000);
    const d = await take();
    expect(limiter.throttled(1000, d)).toBe(4000);
    await vi.advanceTimersByTimeAsync(4000);
    const e = await take();
    limiter.answered(e);
    await vi.advanceTimersByTimeAsync(200);
    const f = await take();
    // The episode ended with e's answer: the next 429 starts over at Retry-After.
    expect(limiter.throttled(1000, f)).toBe(1000);
  });

  it('a 503 pause does not escalate', async () => {
    const limiter = new VaultLimiter({ requestsPer10s: 100 });
    expect(limiter.pause(1500)).toBe(1500);
    expect(limiter.pause(500)).toBe(1500);
    await vi.advanceTimersByTimeAsync(1500);
    expect(limiter.pausedForMs()).toBe(0);
  });

  it('drops an aborted waiter', async () => {
    const limiter = new VaultLimiter({ requestsPer10s: 10 });
    await limiter.acquire();
    const ac = new AbortController();
    const waiting = limiter.acquire('normal', ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(limiter.waiting).toBe(0);
  });
});

describe('throttleDelayMs (jitter bounds)', () => {
  const opts = (random: number): { baseMs: number; maxMs: number; random: () => number } => ({ baseMs: 1000, maxMs: 60_000, random: () => random });

  it('is exactly Retry-After for the first 429', () => {
    expect(throttleDelayMs(1, 7000, opts(0.5))).toBe(7000);
    expect(throttleDelayMs(1, undefined, opts(0.5))).toBe(1000);
  });

  it('stays within [b/2, b] (b = base · 2^(n-1), capped) and never below Retry-After', () => {
    for (let n = 2; n <= 12; n++) {
      const b = Math.min(60_000, 1000 * 2 ** (n - 1));
      for (const r of [0, 0.25, 0.5, 0.999, 1]) {
        const d = throttleDelayMs(n, 100, opts(r));
        expect(d).toBeGreaterThanOrEqual(b / 2);
        expect(d).toBeLessThanOrEqual(b);
      }
      expect(throttleDelayMs(n, 90_000, opts(0))).toBe(90_000);
    }
  });
});

describe('VaultLimiter (real process)', () => {
  it('keeps the process alive while a request waits for its token', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const limiterUrl = new URL('./vault-limiter.ts', import.meta.url).href;
    // Nothing but the second acquire is pending: the process must stay until it is granted (~1.1 s).
    const script = `const { VaultLimiter } = await import(${JSON.stringify(limiterUrl)});
      const l = new VaultLimiter({ requestsPer10s: 10 });
      await l.acquire();
      await l.acquire();
      process.stdout.write('granted');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(stdout).toBe('granted');
  });
});

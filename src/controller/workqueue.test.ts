import { afterEach, describe, expect, it, vi } from 'vitest';
import { pollUntil } from '../util/poll.ts';
import { jittered, retryDelayMs, WorkQueue, type QueueResult, type RunControl } from './workqueue.ts';

/** A handler whose runs the test releases one by one. */
function gatedHandler(): { handler: (key: string) => Promise<QueueResult | undefined>; started: string[]; release: (key: string, r?: QueueResult) => void; running: () => number } {
  const started: string[] = [];
  const waiting = new Map<string, ((r: QueueResult | undefined) => void)[]>();
  let running = 0;
  return {
    started,
    running: () => running,
    handler: (key) => {
      started.push(key);
      running += 1;
      return new Promise((resolve) => {
        const list = waiting.get(key) ?? [];
        list.push((r) => {
          running -= 1;
          resolve(r);
        });
        waiting.set(key, list);
      });
    },
    release: (key, r) => {
      const next = waiting.get(key)?.shift();
      if (next === undefined) throw new Error(`${key} is not running`);
      next(r);
    },
  };
}

describe('WorkQueue', () => {
  it('deduplicates a key added several times while waiting', async () => {
    const runs: string[] = [];
    const q = new WorkQueue({ concurrency: 1, handler: (k) => Promise.resolve(void runs.push(k)) });
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    q.start();
    await pollUntil(() => (runs.length === 2 ? true : undefined), { timeoutMs: 2000, description: 'two runs' });
    await q.shutdown();
    expect(runs).toEqual(['a', 'b']);
  });

  it('runs a key added while it is processed exactly once more, after the current run', async () => {
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 4, handler: g.handler });
    q.start();
    q.add('a');
    await pollUntil(() => (g.started.length === 1 ? true : undefined), { timeoutMs: 2000, description: 'first run' });
    q.add('a');
    q.add('a');
    // Never twice at once, even with free workers.
    expect(g.running()).toBe(1);
    g.release('a');
    await pollUntil(() => (g.started.length === 2 ? true : undefined), { timeoutMs: 2000, description: 'second run' });
    g.release('a');
    await q.shutdown();
    expect(g.started).toEqual(['a', 'a']);
  });

  it('never runs more than `concurrency` handlers at once', async () => {
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 2, handler: g.handler });
    q.start();
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await pollUntil(() => (g.started.length === 2 ? true : undefined), { timeoutMs: 2000, description: 'two started' });
    expect(g.running()).toBe(2);
    expect(q.length).toBe(2);
    g.release('a');
    await pollUntil(() => (g.started.length === 3 ? true : undefined), { timeoutMs: 2000, description: 'third started' });
    expect(g.running()).toBe(2);
    g.release('b');
    g.release('c');
    await pollUntil(() => (g.started.length === 4 ? true : undefined), { timeoutMs: 2000, description: 'fourth started' });
    g.release('d');
    await q.shutdown();
    expect(g.started).toEqual(['a', 'b', 'c', 'd']);
  });

  it('retries a failing key with per-key exponential backoff and resets it after a success', async () => {
    const times: number[] = [];
    let fail = 3;
    const q = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 20,
      maxDelayMs: 1000,
      random: () => 0.5,
      handler: () => {
        times.push(Date.now());
        if (fail-- > 0) return Promise.reject(new Error('boom'));
        return Promise.resolve({});
      },
    });
    q.start();
    q.add('k');
    await pollUntil(() => (times.length === 4 ? true : undefined), { timeoutMs: 3000, description: 'four runs' });
    await pollUntil(() => (q.failures('k') === 0 ? true : undefined), { timeoutMs: 1000, description: 'failures reset' });
    await q.shutdown();
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    // 20, 40, 80 ms (timers may fire a little late, never early).
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
  });

  it('caps the backoff and honours a retry-after longer than the backoff', () => {
    const q = new WorkQueue({ concurrency: 1, baseDelayMs: 100, maxDelayMs: 500, handler: () => Promise.resolve({}), random: () => 0.5 });
    expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('k'))).toEqual([100, 200, 400, 500, 500]);
    expect(q.addRateLimited('t', 5000)).toBe(5000);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(100);
    void q.shutdown();
  });

  it('spreads retries ± 20 % by the injected random source, never below a retry-after', () => {
    const at = (r: number) => new WorkQueue({ concurrency: 1, baseDelayMs: 1000, handler: () => Promise.resolve({}), random: () => r });
    expect(at(0).addRateLimited('k')).toBe(800);
    expect(at(0.999).addRateLimited('k')).toBe(1200);
    expect(at(0).addRateLimited('k', 1000)).toBe(1000);
  });

  describe('retryDelayMs: a cap (the refresh interval) bounds the backoff, spread below it', () => {
    const opts = { baseDelayMs: 1000, maxDelayMs: 5 * 60_000 };
    const randoms = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999];

    it('never exceeds the cap, whatever the failure count and jitter draw', () => {
      for (const capMs of [10_000, 60_000, 3_600_000]) {
        for (let failures = 1; failures <= 40; failures++) {
          for (const r of randoms) expect(retryDelayMs(failures, { ...opts, capMs, random: () => r })).toBeLessThanOrEqual(capMs);
        }
      }
    });

    it('once the backoff reaches the cap, draws from [0.8 · cap, cap], so failed syncs are not in lockstep', () => {
      const delays = randoms.map((r) => retryDelayMs(30, { ...opts, capMs: 10_000, random: () => r }));
      for (const d of delays) expect(d).toBeGreaterThanOrEqual(8_000);
      expect(Math.min(...delays)).toBeLessThan(8_100);
      expect(Math.max(...delays)).toBe(10_000);
      expect(new Set(delays).size).toBe(randoms.length);
    });

    it('keeps the uncapped backoff while it stays under the cap', () => {
      for (let failures = 1; failures <= 3; failures++) {
        for (const r of randoms) expect(retryDelayMs(failures, { ...opts, capMs: 10_000, random: () => r })).toBe(retryDelayMs(failures, { ...opts, random: () => r }));
      }
      // Without a cap (refresh interval 0) the backoff doubles up to maxDelayMs.
      expect(retryDelayMs(30, { ...opts, random: () => 0.5 })).toBe(5 * 60_000);
      expect(retryDelayMs(30, { ...opts, capMs: 0, random: () => 0.5 })).toBe(5 * 60_000);
    });

    it('a Retry-After (minDelayMs) longer than the cap still wins', () => {
      expect(retryDelayMs(30, { ...opts, capMs: 10_000, minDelayMs: 25_000, random: () => 0.5 })).toBe(25_000);
      expect(retryDelayMs(1, { ...opts, capMs: 10_000, minDelayMs: 2_000, random: () => 0 })).toBe(2_000);
    });
  });

  it('caps a key\'s retry by the maxDelayMs its failed run returned', async () => {
    vi.useFakeTimers();
    const runs: number[] = [];
    // Eleven failures without a cap (1 ms doubling: the twelfth run comes at 2,047 ms and the uncapped
    // backoff after it would be 2,048 ms), then one whose run caps its retry at 50 ms.
    const q = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 1,
      maxDelayMs: 3_600_000,
      random: () => 0.5,
      handler: () => {
        runs.push(Date.now());
        return Promise.resolve(runs.length < 12 ? { retry: {} } : runs.length === 12 ? { retry: { maxDelayMs: 50 } } : {});
      },
    });
    try {
      q.start();
      q.add('k');
      await vi.advanceTimersByTimeAsync(2_060);
      expect(runs).toHaveLength(12);
      await vi.advanceTimersByTimeAsync(50);
      expect(runs).toHaveLength(13);
      await q.shutdown();
    } finally {
      vi.useRealTimers();
    }
  });

  it('requeues after a delay, keeping the earliest pending deadline', async () => {
    const runs: number[] = [];
    const q = new WorkQueue({ concurrency: 1, handler: () => Promise.resolve(void runs.push(Date.now())) });
    q.start();
    const t0 = Date.now();
    q.addAfter('k', 5_000);
    q.addAfter('k', 60);
    q.addAfter('k', 10_000);
    await pollUntil(() => (runs.length === 1 ? true : undefined), { timeoutMs: 2000, description: 'delayed run' });
    expect((runs[0] ?? 0) - t0).toBeGreaterThanOrEqual(59);
    await q.shutdown();
  });

  it('requeues after the handler asks for a refresh', async () => {
    let n = 0;
    const q = new WorkQueue({ concurrency: 1, handler: () => Promise.resolve(++n < 3 ? { requeueAfterMs: 10 } : {}) });
    q.start();
    q.add('k');
    await pollUntil(() => (n === 3 ? true : undefined), { timeoutMs: 2000, description: 'three runs' });
    await q.shutdown();
    expect(n).toBe(3);
  });

  it('drains in-flight work on shutdown and accepts nothing after', async () => {
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 1, handler: g.handler });
    q.start();
    q.add('a');
    q.add('b');
    await pollUntil(() => (g.started.length === 1 ? true : undefined), { timeoutMs: 2000, description: 'a started' });
    let drained = false;
    const done = q.shutdown().then(() => {
      drained = true;
    });
    await Promise.resolve();
    expect(drained).toBe(false);
    g.release('a');
    await done;
    q.add('c');
    expect(g.started).toEqual(['a']);
  });
});

describe('WorkQueue priority (fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs high keys before normal ones queued earlier, FIFO within a priority', async () => {
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 1, handler: g.handler });
    q.add('busy');
    q.start();
    for (let i = 0; i < 200; i++) q.add(`refresh-${i}`);
    q.add('new-1', 'high');
    q.add('new-2', 'high');
    // A waiting normal key added again as high moves up.
    q.add('refresh-150', 'high');
    expect(q.length).toBe(202);
    for (const k of ['busy', 'new-1', 'new-2', 'refresh-150', 'refresh-0']) {
      await pollUntil(() => (g.started.at(-1) === k ? true : undefined), { timeoutMs: 2000, description: `${k} started` });
      g.release(k);
    }
    expect(g.started).toEqual(['busy', 'new-1', 'new-2', 'refresh-150', 'refresh-0']);
    await q.shutdown();
  });

  it('retries a failed high-priority run as high; a refresh (requeueAfterMs) comes back as normal', async () => {
    vi.useFakeTimers();
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 1, baseDelayMs: 1000, handler: g.handler, random: () => 0.5 });
    q.start();
    q.add('new', 'high');
    await vi.advanceTimersByTimeAsync(0);
    g.release('new', { retry: { retryAfterMs: 500 } });
    q.add('synced', 'high');
    await vi.advanceTimersByTimeAsync(0);
    g.release('synced', { requeueAfterMs: 1000 });
    q.add('busy');
    await vi.advanceTimersByTimeAsync(0);
    q.add('backlog-1');
    q.add('backlog-2');
    // The retry of `new` and the refresh of `synced` come due while `busy` runs and the backlog waits.
    await vi.advanceTimersByTimeAsync(1000);
    for (const k of ['busy', 'new', 'backlog-1', 'backlog-2', 'synced']) {
      await vi.advanceTimersByTimeAsync(0);
      expect(g.started.at(-1)).toBe(k);
      g.release(k);
    }
    expect(g.started).toEqual(['new', 'synced', 'busy', 'new', 'backlog-1', 'backlog-2', 'synced']);
    await q.shutdown();
  });

  it('a delayed high add keeps its priority when a later normal add for the key comes in', async () => {
    vi.useFakeTimers();
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 1, handler: g.handler });
    q.start();
    q.add('busy');
    q.addAfter('k', 100, 'high');
    q.addAfter('k', 500);
    q.add('other');
    await vi.advanceTimersByTimeAsync(200);
    g.release('busy');
    await vi.advanceTimersByTimeAsync(0);
    expect(g.started).toEqual(['busy', 'k']);
    g.release('k');
    await vi.advanceTimersByTimeAsync(0);
    g.release('other');
    await q.shutdown();
  });
});

describe('WorkQueue bulkhead per group', () => {
  const groupOf = (key: string): string | undefined => (key.startsWith('hang') ? 'hangkv' : key.startsWith('free') ? undefined : 'devkv');
  const until = (probe: () => boolean, description: string): Promise<true> => pollUntil(() => (probe() ? true : undefined), { timeoutMs: 2000, description });

  it('lets one group hold at most maxPerGroup workers: a later key of another group runs while the group\'s keys hang', async () => {
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 4, maxPerGroup: 2, groupOf, handler: g.handler });
    q.start();
    for (let i = 1; i <= 6; i++) q.add(`hang-${i}`, 'high');
    q.add('healthy', 'high');
    q.add('free', 'high');
    await until(() => g.started.length === 4, 'four runs');
    expect(g.started).toEqual(['hang-1', 'hang-2', 'healthy', 'free']);
    expect(q.runningIn('hangkv')).toBe(2);
    // The four set aside still count as waiting.
    expect(q.length).toBe(4);
    g.release('healthy');
    g.release('free');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Free workers, but the group is full: its keys wait.
    expect(g.started).toHaveLength(4);
    g.release('hang-1');
    await until(() => g.started.length === 5, 'the next key of the group');
    expect(g.started.at(-1)).toBe('hang-3');
    for (const k of ['hang-2', 'hang-3']) g.release(k);
    await until(() => g.started.length === 7, 'the rest of the group, two at a time');
    expect(g.started.slice(5)).toEqual(['hang-4', 'hang-5']);
    expect(g.running()).toBe(2);
    for (const k of ['hang-4', 'hang-5']) g.release(k);
    await until(() => g.started.length === 8, 'the last key');
    g.release('hang-6');
    await q.shutdown();
    expect(q.runningIn('hangkv')).toBe(0);
  });

  it('a run that leaves its group frees the group\'s slot for the next key while it keeps its worker', async () => {
    const g = gatedHandler();
    const controls = new Map<string, RunControl>();
    const q = new WorkQueue({
      concurrency: 3,
      maxPerGroup: 1,
      groupOf,
      handler: (key, run) => {
        controls.set(key, run);
        return g.handler(key);
      },
    });
    q.start();
    for (const k of ['hang-1', 'hang-2', 'hang-3', 'hang-4']) q.add(k);
    await until(() => g.started.length === 1, 'one run of the group');
    controls.get('hang-1')?.leaveGroup();
    await until(() => g.started.length === 2, 'the next key of the group');
    expect(g.started).toEqual(['hang-1', 'hang-2']);
    expect(q.runningIn('hangkv')).toBe(1);
    // Leaving twice frees nothing more; the group's limit still holds for the keys in it.
    controls.get('hang-1')?.leaveGroup();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(g.started).toHaveLength(2);
    controls.get('hang-2')?.leaveGroup();
    await until(() => g.started.length === 3, 'a third key of the group');
    // Three workers busy: the total concurrency still bounds the runs that left their group.
    controls.get('hang-3')?.leaveGroup();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(g.started).toEqual(['hang-1', 'hang-2', 'hang-3']);
    expect(q.running).toBe(3);
    g.release('hang-1');
    await until(() => g.started.length === 4, 'the last key');
    for (const k of ['hang-2', 'hang-3', 'hang-4']) g.release(k);
    await q.shutdown();
    expect(q.runningIn('hangkv')).toBe(0);
  });

  it('keeps order and priority for keys set aside: a set-aside key raised to high runs before normal ones', async () => {
    const g = gatedHandler();
    const q = new WorkQueue({ concurrency: 2, maxPerGroup: 1, groupOf, handler: g.handler });
    q.start();
    q.add('hang-1');
    q.add('hang-2');
    q.add('hang-3');
    await until(() => g.started.length === 1, 'one run of the group');
    q.add('hang-3', 'high');
    g.release('hang-1');
    await until(() => g.started.length === 2, 'the next run of the group');
    expect(g.started).toEqual(['hang-1', 'hang-3']);
    g.release('hang-3');
    await until(() => g.started.length === 3, 'the last run');
    g.release('hang-2');
    await q.shutdown();
  });

  it('looks at each waiting key a bounded number of times, however long the line of one full group is', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `kv-${i}`);
    let lookups = 0;
    const done: string[] = [];
    const q = new WorkQueue({
      concurrency: 4,
      maxPerGroup: 2,
      groupOf: () => {
        lookups += 1;
        return 'devkv';
      },
      handler: async (key) => {
        await Promise.resolve();
        done.push(key);
        return undefined;
      },
    });
    for (const k of keys) q.add(k);
    q.start();
    await until(() => done.length === keys.length, 'every key');
    // In order, two at a time: each key is looked at when it first comes up and when it is taken back.
    expect(done).toEqual(keys);
    expect(lookups).toBeLessThanOrEqual(3 * keys.length);
    await q.shutdown();
  });

  it('runs a key set aside whose group changed meanwhile, and the keys after it', async () => {
    const g = gatedHandler();
    const groups = new Map([['a-1', 'kv-a'], ['a-2', 'kv-a'], ['a-3', 'kv-a']]);
    const q = new WorkQueue({ concurrency: 3, maxPerGroup: 1, groupOf: (key) => groups.get(key), handler: g.handler });
    q.start();
    for (const k of groups.keys()) q.add(k);
    await until(() => g.started.length === 1, 'the first run of kv-a');
    // a-2 now reads another vault: it runs there, and kv-a's free slot still goes to a-3.
    groups.set('a-2', 'kv-b');
    g.release('a-1');
    await until(() => g.started.length === 3, 'a-2 in kv-b and a-3 in kv-a');
    expect(g.started).toEqual(['a-1', 'a-2', 'a-3']);
    g.release('a-2');
    g.release('a-3');
    await q.shutdown();
  });

  it('refuses a maxPerGroup that is not a positive integer', () => {
    expect(() => new WorkQueue({ concurrency: 4, maxPerGroup: 0, handler: () => Promise.resolve(undefined) })).toThrow(RangeError);
  });
});

describe('jittered', () => {
  it('stays within ±10 %', () => {
    expect(jittered(1000, 0.1, () => 0)).toBe(900);
    expect(jittered(1000, 0.1, () => 1)).toBe(1100);
    expect(jittered(1000, 0.1, () => 0.5)).toBe(1000);
  });
});

/** Small statistics helpers for the benchmark: percentiles and per-window request counts. */

/** The p-th percentile (0–100) by nearest rank; undefined for an empty list. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** One sample of a cumulative counter: its value at time `atMs`. */
export interface CounterSample {
  atMs: number;
  value: number;
}

/**
 * The largest increase of a cumulative counter over any span of at most `windowMs` between two
 * samples (a sliding window at the sampling resolution); 0 with fewer than two samples.
 */
export function maxInWindow(samples: readonly CounterSample[], windowMs: number): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < samples.length; end++) {
    const e = samples[end];
    if (e === undefined) continue;
    while (start < end && e.atMs - (samples[start]?.atMs ?? e.atMs) > windowMs) start++;
    const s = samples[start];
    if (s !== undefined) best = Math.max(best, e.value - s.value);
  }
  return best;
}

/**
 * How many bursts of increases a cumulative counter's samples hold: an increase at least `quietMs` after
 * the previous one starts a new burst. The controller's change-detection cycles, counted from its Key
 * Vault requests: a cycle's requests come together, and cycles start at least 90 % of an interval apart.
 */
export function countBursts(samples: readonly CounterSample[], quietMs: number): number {
  let bursts = 0;
  let lastIncreaseMs = -Infinity;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1];
    const cur = samples[i];
    if (prev === undefined || cur === undefined || cur.value <= prev.value) continue;
    if (cur.atMs - lastIncreaseMs >= quietMs) bursts++;
    lastIncreaseMs = cur.atMs;
  }
  return bursts;
}

/**
 * Samples `read` (a cumulative counter) every `everyMs` for `windowMs`, the first sample at once and the
 * last at the window's end; a sample that fails is left out.
 */
export async function sampleCounter(read: () => Promise<number>, windowMs: number, everyMs = 1000): Promise<CounterSample[]> {
  const samples: CounterSample[] = [];
  const endMs = Date.now() + windowMs;
  for (;;) {
    const atMs = Date.now();
    const value = await read().catch(() => undefined);
    if (value !== undefined) samples.push({ atMs, value });
    const left = endMs - Date.now();
    if (left <= 0) return samples;
    await new Promise((resolve) => setTimeout(resolve, Math.min(everyMs, left)));
  }
}

/** A count over a window divided by the cycles counted in it; the count itself when no cycle ran (nothing to divide among). */
export function perCycle(count: number, cycles: number): number {
  return cycles > 0 ? count / cycles : count;
}

/** Milliseconds as seconds with one decimal, e.g. `12.3 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Runs `task` over `items` with at most `concurrency` in flight; resolves when all settled (rejects on the first failure). */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await task(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

/** A figure over several runs: its median and the lowest and highest run. */
export interface RunSummary {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** The median (mean of the middle two for an even count); undefined for an empty list. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Median and range of the values that are numbers (NaN: the run did not measure it; Infinity is kept); undefined when there are none. */
export function summarizeRuns(values: readonly number[]): RunSummary | undefined {
  const finite = values.filter((v) => !Number.isNaN(v));
  const m = median(finite);
  if (m === undefined) return undefined;
  return { median: m, min: Math.min(...finite), max: Math.max(...finite), runs: finite.length };
}

/** `12.3 (11.9–13.0)`: the median, then the range when the runs differ; `format` renders one number. */
export function formatSummary(s: RunSummary | undefined, format: (v: number) => string): string {
  if (s === undefined) return 'n/a';
  return s.min === s.max ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

/** Where a cold start's time goes, in ms from the first create sent. */
export interface ColdStartTimeline {
  /** The first create acknowledged by the apiserver. */
  firstCreateAckMs: number;
  /** The last create acknowledged by the apiserver. */
  lastCreateAckMs: number;
  /** The first object seen Ready by the watch. */
  firstReadyMs: number;
  /** The last object seen Ready: the cold start itself. */
  lastReadyMs: number;
  /** Per object, from its own create acknowledged to it seen Ready: median and highest. */
  createToReadyP50Ms: number;
  createToReadyMaxMs: number;
}

/**
 * The timeline of one cold start from the epoch ms of the first create sent (`startMs`), each create's
 * acknowledgement and each object first seen Ready; objects missing from either map are left out of the
 * per-object figures. NaN where nothing was seen.
 */
export function coldStartTimeline(startMs: number, acknowledgedAt: ReadonlyMap<string, number>, readyAt: ReadonlyMap<string, number>): ColdStartTimeline {
  const after = (values: Iterable<number>): number[] => [...values].map((v) => v - startMs);
  const acks = after(acknowledgedAt.values());
  const ready = after(readyAt.values());
  const perObject = [...readyAt].flatMap(([name, at]) => {
    const ack = acknowledgedAt.get(name);
    return ack === undefined ? [] : [at - ack];
  });
  const extreme = (values: number[], pick: (...v: number[]) => number): number => (values.length === 0 ? NaN : pick(...values));
  return {
    firstCreateAckMs: extreme(acks, Math.min),
    lastCreateAckMs: extreme(acks, Math.max),
    firstReadyMs: extreme(ready, Math.min),
    lastReadyMs: extreme(ready, Math.max),
    createToReadyP50Ms: median(perObject) ?? NaN,
    createToReadyMaxMs: extreme(perObject, Math.max),
  };
}

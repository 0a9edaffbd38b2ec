import { describe, expect, it } from 'vitest';
import { apiserverDelta, parseApiserverMetrics } from '../../../bench/lib/apiserver-metrics.ts';
import { controllerFlags, metricSum } from '../../../bench/lib/controller-process.ts';
import { planSyncs } from '../../../bench/lib/kube.ts';
import { markdownReport, markdownTable, notMeasured } from '../../../bench/lib/report.ts';
import { imageEnv } from '../../../bench/lib/image-controller.ts';
import { coldStartTimeline, countBursts, forEachLimited, maxInWindow, percentile, perCycle, sampleCounter } from '../../../bench/lib/stats.ts';
import { limiterFlag } from '../../../bench/scenarios/throttle.ts';

describe('bench statistics', () => {
  it('percentile by nearest rank', () => {
    const v = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(10);
    expect(percentile(v, 99)).toBe(20);
    expect(percentile([3, 1, 2], 100)).toBe(3);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('maxInWindow finds the largest increase within any window of samples', () => {
    const samples = [0, 5, 10, 40, 45, 90, 91].map((value, i) => ({ atMs: i * 5000, value }));
    // 10 s windows span three samples: the largest rise is 45 → 91 (between 20 s and 30 s).
    expect(maxInWindow(samples, 10_000)).toBe(50);
    expect(maxInWindow(samples.slice(0, 1), 10_000)).toBe(0);
  });

  it('countBursts counts one burst per change-detection cycle, however many samples a cycle spans', () => {
    // A 10 s interval sampled every second: cycles at 0–1 s, 9.5–10 s (jitter), 19 s and 28–29 s, quiet between.
    const values = [0, 8, 16, 16, 16, 16, 16, 16, 16, 16, 24, 24, 24, 24, 24, 24, 24, 24, 24, 32, 32, 32, 32, 32, 32, 32, 32, 32, 36, 40, 40];
    const samples = values.map((value, i) => ({ atMs: i * 1000, value }));
    expect(countBursts(samples, 5000)).toBe(4);
    // Nothing requested: no cycle; one sample: nothing to compare.
    expect(countBursts(samples.map((s) => ({ ...s, value: 7 })), 5000)).toBe(0);
    expect(countBursts(samples.slice(0, 1), 5000)).toBe(0);
    // A counter that went down (a restart) is no cycle.
    expect(countBursts([{ atMs: 0, value: 5 }, { atMs: 1000, value: 0 }], 5000)).toBe(0);
  });

  it('perCycle divides by the cycles counted, and keeps the whole count when none ran', () => {
    expect(perCycle(32, 4)).toBe(8);
    expect(perCycle(24, 3)).toBe(8);
    expect(perCycle(5, 0)).toBe(5);
  });

  it('sampleCounter samples at once, through the window and at its end, leaving out failed reads', async () => {
    let n = 0;
    const samples = await sampleCounter(() => {
      n++;
      return n === 2 ? Promise.reject(new Error('scrape failed')) : Promise.resolve(n);
    }, 50, 10);
    expect(samples[0]?.value).toBe(1);
    expect(samples.map((s) => s.value)).not.toContain(2);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    const span = (samples.at(-1)?.atMs ?? 0) - (samples[0]?.atMs ?? 0);
    expect(span).toBeGreaterThanOrEqual(45);
  });

  it('coldStartTimeline places creates and Ready from the first create sent, and times each object from its own create', () => {
    const start = 1_000_000;
    const acknowledgedAt = new Map([['a', start + 50], ['b', start + 400], ['c', start + 900]]);
    // `c` never became Ready; `x` was Ready without a recorded create (left out of the per-object figures).
    const readyAt = new Map([['a', start + 1050], ['b', start + 600], ['x', start + 2000]]);
    expect(coldStartTimeline(start, acknowledgedAt, readyAt)).toEqual({
      firstCreateAckMs: 50,
      lastCreateAckMs: 900,
      firstReadyMs: 600,
      lastReadyMs: 2000,
      createToReadyP50Ms: 600, // the median of 1000 (a) and 200 (b)
      createToReadyMaxMs: 1000,
    });
    const nothing = coldStartTimeline(start, new Map(), new Map());
    expect(Object.values(nothing).every(Number.isNaN)).toBe(true);
  });

  it('forEachLimited never runs more than the limit at once and visits every item', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(item);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('bench parsing', () => {
  it('sums Prometheus samples by name and labels', () => {
    const text = ['# HELP x', 'kvsync_syncs_total{result="success"} 7', 'kvsync_syncs_total{result="Throttled"} 2', 'process_cpu_seconds_total 1.5'].join('\n');
    expect(metricSum(text, 'kvsync_syncs_total')).toBe(9);
    expect(metricSum(text, 'kvsync_syncs_total', (l) => l.includes('success'))).toBe(7);
    expect(metricSum(text, 'process_cpu_seconds_total')).toBe(1.5);
  });

  it('reads apiserver request counts and latencies by verb and resource, and their difference', () => {
    const before = parseApiserverMetrics('apiserver_request_total{code="201",resource="secrets",subresource="",verb="POST"} 10\n');
    const after = parseApiserverMetrics(
      [
        'apiserver_request_total{code="201",resource="secrets",subresource="",verb="POST"} 30',
        'apiserver_request_total{code="200",resource="keyvaultsyncs",subresource="status",verb="PATCH"} 4',
        'apiserver_request_duration_seconds_sum{resource="secrets",subresource="",verb="POST"} 0.2',
        'apiserver_request_duration_seconds_sum{resource="keyvaultsyncs",subresource="status",verb="PATCH"} 0.04',
      ].join('\n'),
    );
    expect(apiserverDelta(before, after)).toEqual({ 'POST secrets': { requests: 20, meanMs: 10 }, 'PATCH keyvaultsyncs/status': { requests: 4, meanMs: 10 } });
  });

  it('finds the controller flags that gate scenarios', () => {
    const flags = controllerFlags('  --eventgrid-addr ADDR  serve\n  --vault-requests-per-10s N   budget\n  --concurrency N');
    expect(flags.has('eventgrid-addr')).toBe(true);
    expect(limiterFlag(flags)).toBe('vault-requests-per-10s');
    expect(limiterFlag(controllerFlags('--concurrency N'))).toBeUndefined();
  });
});

describe('bench plans and report', () => {
  it('spreads objects evenly over KeyVaultSyncs', () => {
    const objects = Array.from({ length: 10 }, (_, i) => `o${i}`);
    const plans = planSyncs('kvs', 20, objects, 3);
    const uses = new Map<string, number>();
    for (const p of plans) for (const o of p.objects) uses.set(o, (uses.get(o) ?? 0) + 1);
    expect([...uses.values()].every((n) => n === 6)).toBe(true);
    expect(plans[0]).toEqual({ name: 'kvs-0000', secretName: 'kvs-0000-secret', objects: ['o0', 'o1', 'o2'] });
  });

  it('writes a Markdown table with escaped cells and says what was not measured', () => {
    const table = markdownTable([
      { scenario: 's', figure: 'a|b', value: '1', baseline: '2', target: '≤ 3', met: true, notes: 'n' },
      notMeasured('push', 'p50', '≤ 1 s', 'no flag'),
    ]);
    expect(table.split('\n')).toHaveLength(4);
    expect(table).toContain('a\\|b');
    expect(table).toContain('| yes |');
    expect(table).toContain('not measured: no flag');
  });

  it('reads the final stage\'s ENV of a Dockerfile, in both forms and across continuation lines', () => {
    const dockerfile = [
      'FROM node:24 AS build',
      'ENV BUILD_ONLY=1',
      'FROM distroless AS runtime',
      '# a comment',
      'ENV NODE_ENV=production \\',
      '    QUOTED="a b" EMPTY=',
      'ENV LEGACY some value',
      'ENTRYPOINT ["node"]',
    ].join('\n');
    expect(imageEnv(dockerfile)).toEqual({ NODE_ENV: 'production', QUOTED: 'a b', EMPTY: '', LEGACY: 'some value' });
  });

  it('prints nested parameters (the comparison\'s) as JSON in the report, not [object Object]', () => {
    const report = markdownReport({
      startedAt: 'a', finishedAt: 'b', commit: 'c', command: 'npm run bench', environment: {}, rows: [], details: {},
      parameters: { n: 1000, compare: { sizes: [100, 1000], runs: 3 } },
    });
    expect(report).toContain('Parameters: n=1000, compare={"sizes":[100,1000],"runs":3}.');
    expect(report).not.toContain('[object Object]');
  });
});

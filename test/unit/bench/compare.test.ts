import { describe, expect, it } from 'vitest';
import { classifyRequests } from '../../../bench/lib/apiserver-metrics.ts';
import { pinnedVersion } from '../../../bench/lib/eso-binary.ts';
import { ENTRA_HOST, hostsFile } from '../../../bench/lib/eso-process.ts';
import { parseCpuSeconds, parseMemoryStatus } from '../../../bench/lib/proc.ts';
import { formatSummary, median, summarizeRuns } from '../../../bench/lib/stats.ts';
import { planSyncs } from '../../../bench/lib/kube.ts';
import { completePercentile, completeTimes, latencyPercentile, missedPairs, pairLatencies, pairSamples, rotationTargets, type RotationSamples } from '../../../bench/lib/rotation-samples.ts';
import { ratio, reportCompare, sideBySideTable, type CaseResult, type RunFigures } from '../../../bench/scenarios/compare.ts';
import type { CompareParams } from '../../../bench/scenarios/context.ts';
import type { ResultRow } from '../../../bench/lib/report.ts';

describe('bench run statistics', () => {
  it('takes the median of odd and even counts, whatever the order', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeUndefined();
  });

  it('summarises runs as median and range, leaving out runs that measured nothing', () => {
    expect(summarizeRuns([12, 10, 11, NaN])).toEqual({ median: 11, min: 10, max: 12, runs: 3 });
    expect(summarizeRuns([NaN])).toBeUndefined();
  });

  it('prints the range only when the runs differ', () => {
    const f = (v: number): string => v.toFixed(1);
    expect(formatSummary({ median: 11, min: 10, max: 12.5, runs: 3 }, f)).toBe('11.0 (10.0–12.5)');
    expect(formatSummary({ median: 0, min: 0, max: 0, runs: 3 }, f)).toBe('0.0');
    expect(formatSummary(undefined, f)).toBe('n/a');
  });

  it('gives the ESO ÷ kvsync ratio of medians, and says when kvsync measured 0', () => {
    const s = (median: number): { median: number; min: number; max: number; runs: number } => ({ median, min: median, max: median, runs: 3 });
    expect(ratio(s(3), s(900))).toBe('300×');
    expect(ratio(s(100), s(142))).toBe('1.4×');
    expect(ratio(s(0), s(5))).toBe('∞ (kvsync 0)');
    expect(ratio(s(0), s(0))).toBe('equal');
    expect(ratio(undefined, s(1))).toBe('n/a');
    expect(ratio(s(5), s(Infinity))).toBe('∞ (ESO not seen)');
  });

  it('keeps Infinity (not seen) in a run summary but drops NaN (not measured)', () => {
    expect(summarizeRuns([Infinity, 2, NaN, 3])).toEqual({ median: 3, min: 2, max: Infinity, runs: 3 });
  });
});

describe('bench rotation samples: one per (rotation, Secret) pair', () => {
  const objects = Array.from({ length: 200 }, (_, i) => `obj-${String(i).padStart(3, '0')}`);
  const rotated = objects.slice(0, 50);
  const seen = (object: string, sync: string, latencyMs: number): RotationSamples['pairs'][number] => ({ object, sync, latencyMs });
  const missed = (object: string, sync: string): RotationSamples['pairs'][number] => ({ object, sync, missed: true });

  it('watches every Secret of every sync using a rotated object, not only the first sync', () => {
    // N = 100 syncs of 3 out of 200 objects: objects 0–99 are used twice (sync i and the wrapping sync 66 + …).
    const at100 = rotationTargets(planSyncs('sync', 100, objects, 3), rotated);
    expect(at100).toHaveLength(50);
    expect(at100.every((t) => t.secrets.length === 2)).toBe(true);
    expect(at100[0]).toEqual({ object: 'obj-000', secrets: [{ sync: 'sync-0000', secretName: 'sync-0000-secret' }, { sync: 'sync-0066', secretName: 'sync-0066-secret' }] });
    // N = 1,000: every object is used by 15 syncs, so 50 rotations are 750 pairs, spread over all syncs.
    const at1000 = rotationTargets(planSyncs('sync', 1000, objects, 3), rotated);
    expect(at1000.map((t) => t.secrets.length)).toEqual(Array.from({ length: 50 }, () => 15));
    const syncs = at1000.flatMap((t) => t.secrets.map((x) => x.sync));
    expect(syncs).toHaveLength(750);
    // 260 distinct syncs (one using 2 or 3 rotated objects counts once per rotation); 700 of the pairs are in
    // syncs past sync-0016, the last of the first users of objects 0–49.
    expect(new Set(syncs).size).toBe(260);
    expect(syncs.filter((x) => x > 'sync-0016')).toHaveLength(700);
  });

  it('leaves out a rotated object no sync uses', () => {
    expect(rotationTargets([{ name: 'a', secretName: 'a-secret', objects: ['x'] }], ['x', 'unused'])).toEqual([{ object: 'x', secrets: [{ sync: 'a', secretName: 'a-secret' }] }]);
  });

  it('records each pair as its latency, or as missed when the watch did not see it in time', () => {
    const target = { object: 'x', secrets: [{ sync: 'a', secretName: 'a-s' }, { sync: 'b', secretName: 'b-s' }, { sync: 'c', secretName: 'c-s' }] };
    expect(pairSamples(target, [1200, undefined, 800])).toEqual([seen('x', 'a', 1200), missed('x', 'b'), seen('x', 'c', 800)]);
  });

  const rotations: RotationSamples[] = [
    { object: 'x', startMs: 100, pairs: [seen('x', 'a', 1000), seen('x', 'b', 3000)] },
    { object: 'y', startMs: 5000, pairs: [seen('y', 'c', 2000), missed('y', 'd')] },
    { object: 'z', startMs: 9000, pairs: [seen('z', 'e', 4000)] },
  ];

  it('counts missed pairs, and each as slower than every seen pair', () => {
    expect(missedPairs(rotations)).toBe(1);
    expect(pairLatencies(rotations)).toEqual([1000, 3000, 2000, Infinity, 4000]);
    expect(latencyPercentile(rotations, 50)).toBe(3000);
    expect(latencyPercentile(rotations, 99)).toBe(Infinity);
    // Missing 3 of 5 pairs makes the median a miss, however fast the 2 seen ones were.
    const lossy: RotationSamples[] = [{ object: 'x', startMs: 0, pairs: [seen('x', 'a', 100), seen('x', 'b', 200), missed('x', 'c'), missed('x', 'd'), missed('x', 'e')] }];
    expect(latencyPercentile(lossy, 50)).toBe(Infinity);
    expect(latencyPercentile([], 50)).toBeNaN();
  });

  it('completes a rotation when its slowest Secret holds the new value, never while one is missed', () => {
    expect(completeTimes(rotations)).toEqual([3000, Infinity, 4000]);
    expect(completePercentile(rotations, 50)).toBe(4000);
    expect(completePercentile(rotations, 100)).toBe(Infinity);
    expect(completePercentile(rotations.filter((r) => r.object !== 'y'), 100)).toBe(4000);
  });
});

describe('bench parsing of the apiserver and /proc', () => {
  it('splits apiserver requests into reads, writes and watches, leaving out the control plane’s own leases and endpoints', () => {
    const delta = {
      'GET secrets': { requests: 5 },
      'LIST externalsecrets': { requests: 2 },
      'APPLY secrets': { requests: 3 },
      'PATCH keyvaultsyncs/status': { requests: 4 },
      'POST events': { requests: 1 },
      'WATCH secrets': { requests: 1 },
      'PUT leases': { requests: 9 },
      'GET endpoints': { requests: 9 },
    };
    expect(classifyRequests(delta)).toEqual({ reads: 7, writes: 8, watches: 1 });
  });

  it('reads VmRSS and VmHWM from /proc/<pid>/status', () => {
    expect(parseMemoryStatus('Name:\tnode\nVmHWM:\t  200 kB\nVmRSS:\t  150 kB\n')).toEqual({ rssBytes: 150 * 1024, hwmBytes: 200 * 1024 });
  });

  it('reads utime + stime from /proc/<pid>/stat, even when the command name holds spaces and parentheses', () => {
    // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime …
    const stat = '4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 50';
    expect(parseCpuSeconds(stat)).toBe(3.25);
  });

  it('reads the pinned ESO version from the wrapper go.mod', () => {
    expect(pinnedVersion('module m\n\ntool github.com/external-secrets/external-secrets\n\nrequire (\n\tgithub.com/external-secrets/external-secrets v0.16.2 // indirect\n)\n')).toBe('v0.16.2');
    expect(pinnedVersion('module m\n')).toBeUndefined();
  });

  it('names only loopback, the Entra host and the vault hosts in ESO’s hosts file', () => {
    const lines = hostsFile(['benchlist.vault.azure.net']).trim().split('\n');
    expect(lines).toContain(`127.0.0.1 ${ENTRA_HOST}`);
    expect(lines).toContain('127.0.0.1 benchlist.vault.azure.net');
    expect(lines.every((l) => /^(127\.0\.0\.1|::1) /.test(l))).toBe(true);
  });
});

describe('bench side-by-side table', () => {
  const run = (kv: number, rss: number, cycles = 3): RunFigures => ({
    coldStartMs: 3000,
    coldStart: { firstCreateAckMs: 10, lastCreateAckMs: 1000, firstReadyMs: 500, lastReadyMs: 3000, createToReadyP50Ms: 400, createToReadyMaxMs: 2000 },
    warmUpCreateMs: 5,
    kvRequests: kv,
    kvByOperation: {},
    tokenRequests: 0,
    api: { reads: 0, writes: 0, watches: 0 },
    apiserver: {},
    rotations: [],
    memory: { rssBytes: rss, hwmBytes: rss },
    cpuSeconds: 1,
    quietCpuSeconds: 0.5,
    cycles,
  });

  it('has one row per figure with kvsync, ESO and the ratio of medians for each size', () => {
    const table = sideBySideTable([{ n: 100, kvsync: [run(3, 100e6), run(3, 110e6), run(4, 90e6)], eso: [run(900, 140e6), run(910, 150e6), run(890, 145e6)] }], 3, 10).split('\n');
    expect(table[0]).toBe('| figure | kvsync, N=100 | ESO, N=100 | ESO ÷ kvsync |');
    expect(table).toContain('| Key Vault requests in 3 quiet refresh intervals | 3 (3–4) | 900 (890–910) | 300× |');
    expect(table).toContain('| controller RSS at the end | 100 MB (90 MB–110 MB) | 145 MB (140 MB–150 MB) | 1.4× |');
    expect(table).toContain('| apiserver writes in 3 quiet refresh intervals | 0 | 0 | equal |');
  });

  it("notes where each contender's cold start went, beside the warm-up create sent before its clock", () => {
    const params: CompareParams = {
      sizes: [100], m: 200, objectsPerKvs: 3, refreshSeconds: 10, cycles: 3, runs: 3, rotations: 0, createConcurrency: 4,
      esoConcurrent: 4, listing: undefined, contenders: ['kvsync', 'eso'],
    };
    const timed = (firstReadyMs: number, warmUpCreateMs: number): RunFigures => ({ ...run(3, 100e6), coldStart: { firstCreateAckMs: 50, lastCreateAckMs: 900, firstReadyMs, lastReadyMs: 2500, createToReadyP50Ms: 1200, createToReadyMaxMs: 1600 }, warmUpCreateMs });
    const kvsync: CaseResult = { setup: { contender: 'kvsync', n: 100, m: 200, v: 200, rotations: 0, label: 'k' }, runs: [timed(1000, 2000), timed(1200, 2100), timed(1100, 1900)], failures: [] };
    const eso: CaseResult = { setup: { contender: 'eso', n: 100, m: 200, v: 200, rotations: 0, label: 'e' }, runs: [timed(300, 9), timed(300, 9), timed(300, 9)], failures: [] };
    const rows: ResultRow[] = [];
    reportCompare({ params, rows, details: {} }, [kvsync, eso], 'v0.16.2');
    const coldStart = rows.find((r) => r.figure.startsWith('cold start'));
    expect(coldStart?.notes).toContain('; kvsync: creates acknowledged 0.1 s → 0.9 s, first Ready 1.1 s (1.0 s–1.2 s), each create → Ready 1.2 s median; warm-up create before the clock 2.0 s (1.9 s–2.1 s)');
    expect(coldStart?.notes).toContain('; eso: creates acknowledged 0.1 s → 0.9 s, first Ready 0.3 s,');
    // Only the cold start row carries them.
    expect(rows.filter((r) => r.notes.includes('warm-up create'))).toHaveLength(1);
  });

  it('reports rotation rows over (rotation, Secret) pairs, misses included, and the time until each rotation is complete', () => {
    const params: CompareParams = {
      sizes: [100], m: 200, objectsPerKvs: 3, refreshSeconds: 10, cycles: 3, runs: 1, rotations: 2, createConcurrency: 4,
      esoConcurrent: 4, listing: undefined, contenders: ['kvsync', 'eso'],
    };
    const rotated = (latencies: readonly (number | undefined)[][]): RunFigures => ({
      ...run(3, 100e6),
      rotations: latencies.map((ls, i) => ({ object: `o${i}`, startMs: 0, pairs: pairSamples({ object: `o${i}`, secrets: ls.map((_, j) => ({ sync: `s${j}`, secretName: `s${j}-secret` })) }, ls) })),
    });
    // kvsync sees every pair; ESO sees the first Secret of each object fast and misses the second.
    const kvsync: CaseResult = { setup: { contender: 'kvsync', n: 100, m: 200, v: 200, rotations: 2, label: 'k' }, runs: [rotated([[4000, 6000], [5000, 7000]])], failures: [] };
    const eso: CaseResult = { setup: { contender: 'eso', n: 100, m: 200, v: 200, rotations: 2, label: 'e' }, runs: [rotated([[1000, undefined], [2000, undefined]])], failures: [] };
    const rows: ResultRow[] = [];
    reportCompare({ params, rows, details: {} }, [kvsync, eso], 'v0.16.2');
    const row = (figure: string): ResultRow | undefined => rows.find((r) => r.figure === figure);
    expect(row('rotation latency p50, each Secret using the object (missed: not seen within 50 s)')).toMatchObject({ value: 'kvsync 5.0 s', baseline: 'ESO 2.0 s' });
    expect(row('rotation latency p99, each Secret using the object')).toMatchObject({ value: 'kvsync 7.0 s', baseline: 'ESO not seen', met: true });
    const missedRow = row('(rotation, Secret) pairs missed, not seen within 50 s');
    expect(missedRow).toMatchObject({ value: 'kvsync 0', baseline: 'ESO 2', met: true });
    expect(missedRow?.notes).toContain('; kvsync: 2 rotations, 4 (rotation, Secret) pairs per run; eso: 2 rotations, 4 (rotation, Secret) pairs per run');
    expect(row('rotation complete p50, until every Secret using the object holds it')).toMatchObject({ value: 'kvsync 6.0 s', baseline: 'ESO not seen', met: true });
    expect(row('rotation complete max, until every Secret using the object holds it')).toMatchObject({ value: 'kvsync 7.0 s', baseline: 'ESO not seen' });
  });

  it('divides the listing case by the change-detection cycles each run counted, not by the intervals', () => {
    const params: CompareParams = {
      sizes: [100], m: 200, objectsPerKvs: 3, refreshSeconds: 10, cycles: 3, runs: 3, rotations: 0, createConcurrency: 4,
      esoConcurrent: 4, listing: { v: 5000, m: 10, n: 100 }, contenders: [],
    };
    const rows: ResultRow[] = [];
    // Jittered cycles: 3 intervals held 4 cycles in two runs and 3 in one, 10 reads each.
    const listing: CaseResult = { setup: { contender: 'kvsync', n: 100, m: 10, v: 5000, rotations: 0, label: 'listing' }, runs: [run(40, 1, 4), run(30, 1, 3), run(40, 1, 4)], failures: [] };
    reportCompare({ params, rows, details: {} }, [listing], '');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.value).toBe('10.0');
    expect(rows[0]?.met).toBe(true);
    expect(rows[0]?.notes).toContain('(4, 3, 4)');
    // Divided by the 3 intervals, the same runs would read 13.3 per cycle and miss the target of 10.
    const byIntervals: CaseResult = { ...listing, runs: listing.runs.map((r) => ({ ...r, cycles: 3 })) };
    const missed: ResultRow[] = [];
    reportCompare({ params, rows: missed, details: {} }, [byIntervals], '');
    expect(missed[0]?.value).toBe('13.3 (10.0–13.3)');
    expect(missed[0]?.met).toBe(false);
  });
});

/**
 * Scenarios 1–3 at size N: cold start of N KeyVaultSyncs to all Ready (beside creating the same N
 * Secrets directly), steady-state Key Vault requests per refresh cycle with and without list
 * permission (beside what a per-resource poller would send), and the controller's memory.
 */
import { join } from 'node:path';
import { buildImageController } from '../lib/image-controller.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { countOf, breakdownOf, VAULTS, type BenchPrincipal } from '../lib/emulator.ts';
import { importFootprint, metricSum, type ControllerProcess } from '../lib/controller-process.ts';
import { kvsSpec, planSyncs, type KvsPlan } from '../lib/kube.ts';
import { apiserverDelta, apiserverSnapshot, classifyRequests } from '../lib/apiserver-metrics.ts';
import { mib, perCycle, seconds } from '../lib/stats.ts';
import { sleep, vaultRef, type BenchContext } from './context.ts';

const MB = 1_000_000;

export interface Fleet {
  namespace: string;
  vault: string;
  plans: KvsPlan[];
  controller: ControllerProcess;
  createMs: number;
  /** From the first create request to the last KeyVaultSync Ready. */
  allReadyMs: number;
  /** The controller's memory before the first KeyVaultSync was created. */
  idleMemory: { rssBytes: number; hwmBytes: number };
  /** apiserver requests by verb and resource from the first create to all Ready (the benchmark's creates and watches included). */
  apiserver: Record<string, { requests: number; meanMs: number }>;
}

/**
 * Creates N KeyVaultSyncs in a fresh namespace with a controller watching it, and times them to all Ready.
 * @throws when they are not all Ready within the timeout (the error says how many and why)
 */
export async function startFleet(ctx: BenchContext, o: { namespace: string; vault: string; principal: BenchPrincipal; label: string }): Promise<Fleet> {
  const { params, kube } = ctx;
  await kube.createNamespace(o.namespace);
  await kube.createCredentials(o.namespace, o.principal);
  const controller = await ctx.startController(`controller-${o.label}`, o.namespace, concurrencyArgs(ctx));
  // The controller's own footprint before any KeyVaultSync exists: the memory scenario's baseline.
  await sleep(3000);
  const idleMemory = controller.memory();
  const plans = planSyncs('kvs', params.n, ctx.plan.sharedObjects, params.objectsPerKvs);
  const vault = vaultRef(ctx, o.vault);
  const tracker = await kube.trackReady(o.namespace);
  try {
    ctx.progress(`${o.label}: creating ${plans.length} KeyVaultSyncs (${params.createConcurrency} in flight)`);
    const apiBefore = await apiserverSnapshot(kube.kc);
    const t0 = Date.now();
    await kube.createSyncs(o.namespace, plans.map((p) => ({ name: p.name, spec: kvsSpec(p, vault, `${params.refreshSeconds}s`) })), params.createConcurrency);
    const createMs = Date.now() - t0;
    ctx.progress(`${o.label}: created in ${seconds(createMs)}; waiting for all Ready`);
    await tracker.waitAll(plans.map((p) => p.name), Math.max(600_000, params.n * 600), (ready) => ctx.progress(`${o.label}: ${ready}/${plans.length} Ready after ${seconds(Date.now() - t0)}`));
    const allReadyMs = Math.max(...tracker.readyAt.values()) - t0;
    const apiserver = apiserverDelta(apiBefore, await apiserverSnapshot(kube.kc));
    ctx.progress(`${o.label}: all ${plans.length} Ready ${seconds(allReadyMs)} after the first create; apiserver ${JSON.stringify(apiserver)}`);
    return { namespace: o.namespace, vault: o.vault, plans, controller, createMs, allReadyMs, idleMemory, apiserver };
  } catch (err) {
    await controller.stop();
    throw err;
  } finally {
    await tracker.stop();
  }
}

/** Deletes a fleet's namespace and waits (bounded) for the garbage collector, so the next scenario runs on a quiet apiserver. */
async function deleteQuietly(ctx: BenchContext, namespace: string): Promise<void> {
  const t0 = Date.now();
  const gone = await ctx.kube.deleteNamespace(namespace, { timeoutMs: 240_000 });
  ctx.progress(`namespace ${namespace} ${gone ? 'deleted' : 'still terminating'} after ${seconds(Date.now() - t0)}`);
}

function concurrencyArgs(ctx: BenchContext): string[] {
  return ctx.params.controllerConcurrency === undefined ? [] : ['--concurrency', String(ctx.params.controllerConcurrency)];
}

/** The baseline of scenario 2: the same N Secrets (same names and data) created directly with client-node. */
export async function baselineSecrets(ctx: BenchContext): Promise<{ ms: number; apiserver: Record<string, { requests: number; meanMs: number }> }> {
  const { params, kube } = ctx;
  const ns = 'bench-baseline';
  await kube.createNamespace(ns);
  const plans = planSyncs('kvs', params.n, ctx.plan.sharedObjects, params.objectsPerKvs);
  const secrets = plans.map((p) => ({ name: p.secretName, data: Object.fromEntries(p.objects.map((o) => [o, ctx.plan.values.get(o) ?? ''])) }));
  ctx.progress(`baseline: creating ${secrets.length} Secrets directly (${params.createConcurrency} in flight)`);
  const before = await apiserverSnapshot(kube.kc);
  const t0 = Date.now();
  await kube.createSecrets(ns, secrets, params.createConcurrency);
  const ms = Date.now() - t0;
  const apiserver = apiserverDelta(before, await apiserverSnapshot(kube.kc));
  ctx.progress(`baseline: ${secrets.length} Secrets created in ${seconds(ms)}; apiserver ${JSON.stringify(apiserver)}`);
  // Deleted before the cold start begins, so the garbage collector does not compete with it.
  await deleteQuietly(ctx, ns);
  return { ms, apiserver };
}

/**
 * A second baseline for scenario 2: the same N KeyVaultSyncs created with no controller watching their
 * namespace — what the apiserver needs for the custom resources alone (schema and CEL validation),
 * a floor under any controller's cold start.
 */
export async function baselineSyncsAlone(ctx: BenchContext): Promise<number> {
  const { params, kube } = ctx;
  const ns = 'bench-kvs-alone';
  await kube.createNamespace(ns);
  const plans = planSyncs('kvs', params.n, ctx.plan.sharedObjects, params.objectsPerKvs);
  const vault = vaultRef(ctx, VAULTS.list);
  ctx.progress(`baseline: creating ${plans.length} KeyVaultSyncs with no controller (${params.createConcurrency} in flight)`);
  const t0 = Date.now();
  await kube.createSyncs(ns, plans.map((p) => ({ name: p.name, spec: kvsSpec(p, vault, `${params.refreshSeconds}s`) })), params.createConcurrency);
  const ms = Date.now() - t0;
  ctx.progress(`baseline: ${plans.length} KeyVaultSyncs created in ${seconds(ms)} with no controller`);
  await deleteQuietly(ctx, ns);
  return ms;
}

/** Controller metrics worth keeping beside a figure: queue wait, sync duration, sync results. */
export async function controllerFigures(c: ControllerProcess): Promise<Record<string, number>> {
  const text = await c.metrics();
  const ok = (labels: string): boolean => labels.includes('result="success"');
  return {
    syncsSuccess: metricSum(text, 'kvsync_syncs_total', ok),
    syncsFailed: metricSum(text, 'kvsync_syncs_total', (l) => !ok(l)),
    queueWaitSecondsSum: metricSum(text, 'kvsync_workqueue_wait_seconds_sum'),
    queueWaitCount: metricSum(text, 'kvsync_workqueue_wait_seconds_count'),
    syncDurationSecondsSum: metricSum(text, 'kvsync_sync_duration_seconds_sum'),
    syncDurationCount: metricSum(text, 'kvsync_sync_duration_seconds_count'),
    processCpuSeconds: metricSum(text, 'process_cpu_seconds_total'),
    heapUsedBytes: metricSum(text, 'nodejs_heap_size_used_bytes'),
    heapTotalBytes: metricSum(text, 'nodejs_heap_size_total_bytes'),
    externalBytes: metricSum(text, 'nodejs_external_memory_bytes'),
  };
}

export function coldStartRows(ctx: BenchContext, fleet: Fleet, baseline: { ms: number; syncsAloneMs: number; apiserver: Record<string, { requests: number; meanMs: number }> }, figures: Record<string, number>): void {
  const { params } = ctx;
  const ratio = fleet.allReadyMs / baseline.ms;
  const avgWait = figures.queueWaitCount ? (figures.queueWaitSecondsSum ?? 0) / (figures.queueWaitCount ?? 1) : NaN;
  const avgSync = figures.syncDurationCount ? (figures.syncDurationSecondsSum ?? 0) / (figures.syncDurationCount ?? 1) : NaN;
  // What the apiserver did per KeyVaultSync (the controller's requests; the benchmark's creates listed apart).
  const perKvs = Object.entries(fleet.apiserver)
    .filter(([k, v]) => v.requests >= params.n / 2 && k !== 'POST keyvaultsyncs')
    .map(([k, v]) => `${k} ${(v.requests / params.n).toFixed(1)} × ${v.meanMs} ms`)
    .join(', ');
  const creates = fleet.apiserver['POST keyvaultsyncs'];
  // Summed apiserver latency per KeyVaultSync (its create and the controller's requests) against one Secret create.
  const apiMsPerKvs = Object.entries(fleet.apiserver)
    .filter(([k, v]) => v.requests >= params.n / 2 && !k.startsWith('WATCH'))
    .reduce((sum, [, v]) => sum + (v.requests / params.n) * v.meanMs, 0);
  const secretCreate = baseline.apiserver['POST secrets'];
  ctx.rows.push({
    scenario: `2. cold start, N=${params.n}`,
    figure: 'first create → all Ready',
    value: `${seconds(fleet.allReadyMs)} (${ratio.toFixed(2)}× baseline)`,
    baseline: `${seconds(baseline.ms)} to create the same ${params.n} Secrets with client-node`,
    target: '≤ 3× baseline',
    met: ratio <= 3,
    notes:
      `both created with ${params.createConcurrency} requests in flight; controller --concurrency ${params.controllerConcurrency ?? 'default (4)'}. ` +
      `With no controller running, creating the same KeyVaultSyncs takes ${seconds(baseline.syncsAloneMs)} (${(baseline.syncsAloneMs / baseline.ms).toFixed(1)}× baseline): a floor under the cold start. ` +
      `Here creating them took ${seconds(fleet.createMs)} (${((fleet.createMs / baseline.ms) || 0).toFixed(1)}× baseline; apiserver mean ${creates?.meanMs ?? '?'} ms per KeyVaultSync create vs ${secretCreate?.meanMs ?? '?'} ms per Secret create). ` +
      `apiserver requests per KeyVaultSync (by its own /metrics): ${perKvs || 'n/a'}; baseline: 1 POST secrets. ` +
      `In all ≈ ${apiMsPerKvs.toFixed(0)} ms of apiserver time per KeyVaultSync against ${secretCreate?.meanMs ?? '?'} ms per Secret, on 2 cores shared by etcd, the apiserver, the emulator and the controller. ` +
      `Mean queue wait ${avgWait.toFixed(2)} s, mean sync ${avgSync.toFixed(3)} s over ${figures.syncDurationCount ?? 0} syncs; controller CPU ${(figures.processCpuSeconds ?? 0).toFixed(1)} s`,
  });
}

export interface SteadyCounts {
  windowMs: number;
  /** Refresh intervals in the window (--cycles). */
  intervals: number;
  /** Change-detection cycles the controller ran in the window (3 intervals hold 3 or 4: cycles are jittered). */
  cycles: number;
  total: number;
  perCycle: number;
  byOperation: Record<string, number>;
  tokens: number;
  /** apiserver requests by verb and resource during the counted cycles. */
  apiserver: Record<string, { requests: number; meanMs: number }>;
}

/**
 * Counts the vault's requests over `cycles` refresh intervals once everything is Ready (after one
 * settling interval), from the emulator's counters, and the change-detection cycles the controller ran
 * meanwhile (its /metrics): per-cycle figures divide by the cycles counted.
 */
export async function countSteadyState(ctx: BenchContext, controller: ControllerProcess, vault: string, label: string): Promise<SteadyCounts> {
  const { params } = ctx;
  const interval = params.refreshSeconds * 1000;
  ctx.progress(`${label}: settling one refresh interval (${params.refreshSeconds} s)`);
  await sleep(interval);
  await ctx.emulator.admin.resetRequests();
  const apiBefore = await apiserverSnapshot(ctx.kube.kc);
  const windowMs = interval * params.cycles;
  ctx.progress(`${label}: counting Key Vault requests for ${params.cycles} refresh intervals (${seconds(windowMs)})`);
  const { cycles } = await controller.countCycles(vault, windowMs, interval);
  const counts = await ctx.emulator.admin.requests();
  const apiserver = apiserverDelta(apiBefore, await apiserverSnapshot(ctx.kube.kc));
  const total = countOf(counts, vault);
  const tokens = counts.filter((c) => c.operation === 'token').reduce((s, c) => s + c.count, 0);
  const result = { windowMs, intervals: params.cycles, cycles, total, perCycle: perCycle(total, cycles), byOperation: breakdownOf(counts, vault), tokens, apiserver };
  ctx.progress(`${label}: ${total} requests in ${cycles} cycles (${params.cycles} intervals) → ${result.perCycle.toFixed(1)} per cycle ${JSON.stringify(result.byOperation)}`);
  return result;
}

export function steadyRow(ctx: BenchContext, withList: boolean, counts: SteadyCounts): void {
  const { params } = ctx;
  const target = withList ? Math.ceil(params.m / 25) : params.m;
  const ops = Object.entries(counts.byOperation).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  ctx.rows.push({
    scenario: `1. steady state, N=${params.n} sharing M=${params.m}, ${withList ? 'with' : 'without'} list permission`,
    figure: 'Key Vault requests per refresh cycle',
    value: counts.perCycle.toFixed(1),
    baseline: 'ESO, measured for the same work: rows 6',
    target: withList ? `≤ ⌈M/25⌉ = ${target}` : `≤ M = ${target}`,
    met: counts.perCycle <= target,
    notes: `refreshInterval ${params.refreshSeconds} s; counted by the emulator over ${params.cycles} intervals, which held ${counts.cycles} change-detection cycles (the controller's Key Vault requests sampled every second): ${ops}; Entra token requests ${counts.tokens}; ${withList ? 'Key Vault Secrets User on the vault' : 'Key Vault Secrets User on each object only (list forbidden)'}; apiserver writes per cycle: ${apiWrites(counts)}`,
  });
  const api = classifyRequests(counts.apiserver);
  const secretReads = (counts.apiserver['GET secrets']?.requests ?? 0) + (counts.apiserver['LIST secrets']?.requests ?? 0);
  const writes = perCycle(api.writes, counts.cycles);
  const reads = perCycle(secretReads, counts.cycles);
  ctx.rows.push({
    scenario: `1. steady state, N=${params.n} sharing M=${params.m}, ${withList ? 'with' : 'without'} list permission`,
    figure: 'apiserver writes / Secret reads per quiet cycle',
    value: `${writes.toFixed(1)} / ${reads.toFixed(1)}`,
    baseline: 'ESO, measured for the same work: rows 6',
    target: '≤ 10 / ≤ 10',
    met: writes <= 10 && reads <= 10,
    notes: `the apiserver's own /metrics over the ${counts.cycles} cycles, every resource but the control plane's leases and endpoints: ${Object.entries(counts.apiserver).filter(([k]) => !k.startsWith('WATCH')).map(([k, v]) => `${k} ${v.requests}`).join(', ') || 'none'}`,
  });
}

function apiWrites(counts: SteadyCounts): string {
  const writes = Object.entries(counts.apiserver).filter(([k]) => /^(APPLY|PATCH|POST|PUT|DELETE) (secrets|keyvaultsyncs|events|configmaps)/.test(k));
  return writes.map(([k, v]) => `${k} ${perCycle(v.requests, counts.cycles).toFixed(0)}`).join(', ') || 'none';
}

export function rssRows(ctx: BenchContext, memory: { rssBytes: number; hwmBytes: number }, idle: { rssBytes: number }, figures: Record<string, number>, imports: { clientNode: number; controllerModules: number }): void {
  const floor = `a Node process importing only @kubernetes/client-node: ${(imports.clientNode / MB).toFixed(0)} MB; importing the controller's modules (src/controller/command.ts, type stripping included) without starting it: ${(imports.controllerModules / MB).toFixed(0)} MB`;
  const heap = `V8 heap ${((figures.heapUsedBytes ?? 0) / MB).toFixed(0)} MB used (garbage included) of ${((figures.heapTotalBytes ?? 0) / MB).toFixed(0)} MB reserved, external ${((figures.externalBytes ?? 0) / MB).toFixed(0)} MB (the controller's /metrics)`;
  const n = ctx.params.n;
  const idleText = `${(idle.rssBytes / MB).toFixed(1)} MB: the same controller before any KeyVaultSync existed`;
  ctx.rows.push({
    scenario: `3. controller memory, N=${n}`,
    figure: 'VmRSS after steady state',
    value: `${(memory.rssBytes / MB).toFixed(1)} MB (${mib(memory.rssBytes)})`,
    baseline: idleText,
    target: '≤ 150 MB',
    met: memory.rssBytes <= 150 * MB,
    notes: `/proc/<pid>/status of the spawned \`node ${ctx.params.controllerNodeArgs.map((a) => `${a} `).join('')}src/cli.ts controller\`, ${n} KeyVaultSyncs and ${n} Secrets in its caches; ${heap}`,
  });
  ctx.rows.push({
    scenario: `3. controller memory, N=${n}`,
    figure: 'VmHWM (peak RSS, cold start included)',
    value: `${(memory.hwmBytes / MB).toFixed(1)} MB (${mib(memory.hwmBytes)})`,
    baseline: idleText,
    target: '≤ 150 MB',
    met: memory.hwmBytes <= 150 * MB,
    notes: `peak since the controller started; ${floor}`,
  });
}

/**
 * Scenario 3 as the container image runs it: the controller's production build (scripts/build.ts,
 * into the git-ignored .cache/bench-dist), started on the same N KeyVaultSyncs after the first controller
 * stopped. It re-syncs every one of them, then runs one settling interval and one cycle before the reading.
 */
async function compiledMemory(ctx: BenchContext, fleet: Fleet): Promise<void> {
  const { params } = ctx;
  ctx.progress('memory: building the controller as the image does (npm run build)');
  const image = await buildImageController(ctx.root);
  const controller = await ctx.startController('controller-compiled', fleet.namespace, [], image);
  try {
    const t0 = Date.now();
    await pollUntil(async () => (metricSum(await controller.metrics(), 'kvsync_syncs_total', (l) => l.includes('result="success"')) >= params.n ? true : undefined), {
      timeoutMs: Math.max(300_000, params.n * 300),
      intervalMs: 1000,
      description: `the compiled controller to re-sync ${params.n} KeyVaultSyncs`,
    });
    const resyncMs = Date.now() - t0;
    await sleep(2 * params.refreshSeconds * 1000);
    const memory = controller.memory();
    const figures = await controllerFigures(controller);
    ctx.details.memoryCompiled = { ...memory, resyncMs, controller: figures };
    ctx.progress(`memory (compiled): VmRSS ${mib(memory.rssBytes)}, VmHWM ${mib(memory.hwmBytes)}; re-synced ${params.n} in ${seconds(resyncMs)}`);
    ctx.rows.push({
      scenario: `3. controller memory, N=${params.n}`,
      figure: 'VmRSS / VmHWM, compiled JavaScript as in the image',
      value: `${(memory.rssBytes / MB).toFixed(1)} / ${(memory.hwmBytes / MB).toFixed(1)} MB`,
      baseline: 'the rows above: the same controller run from its TypeScript sources',
      target: '≤ 150 MB',
      met: memory.rssBytes <= 150 * MB && memory.hwmBytes <= 150 * MB,
      notes: `\`node .cache/bench-dist/cli.js controller\` (the production build, like the image's dist/, with the image's environment ${Object.entries(image.env).map(([k, v]) => `${k}=${v}`).join(' ')}), started on the ${params.n} existing KeyVaultSyncs: re-synced all in ${seconds(resyncMs)}, then read after two refresh intervals; no TypeScript type stripping in the process`,
    });
  } finally {
    await controller.stop();
  }
}

/** Scenarios 1 (with list), 2 and 3 on one fleet in `benchlist`, then scenario 1 without list in `benchscoped`. */
export async function runScale(ctx: BenchContext): Promise<void> {
  const { only } = ctx.params;
  const wantList = only.has('cold-start') || only.has('steady-state') || only.has('rss');
  if (wantList) {
    const baseline = only.has('cold-start') ? { ...(await baselineSecrets(ctx)), syncsAloneMs: await baselineSyncsAlone(ctx) } : undefined;
    const baselineMs = baseline?.ms;
    const fleet = await startFleet(ctx, { namespace: 'bench-list', vault: VAULTS.list, principal: ctx.plan.lister, label: 'list' });
    try {
      const figures = await controllerFigures(fleet.controller);
      ctx.details.coldStart = { baselineMs, syncsAloneMs: baseline?.syncsAloneMs, baselineApiserver: baseline?.apiserver, createMs: fleet.createMs, allReadyMs: fleet.allReadyMs, controller: figures, apiserver: fleet.apiserver, memoryIdle: fleet.idleMemory, memoryAtReady: fleet.controller.memory() };
      if (baseline !== undefined) coldStartRows(ctx, fleet, baseline, figures);
      if (only.has('steady-state') || only.has('rss')) {
        const counts = await countSteadyState(ctx, fleet.controller, VAULTS.list, 'steady state with list');
        ctx.details.steadyWithList = counts;
        if (only.has('steady-state')) steadyRow(ctx, true, counts);
      }
      const memory = fleet.controller.memory();
      const memoryFigures = await controllerFigures(fleet.controller);
      ctx.details.memory = { ...memory, idle: fleet.idleMemory, controller: memoryFigures };
      ctx.progress(`memory: VmRSS ${mib(memory.rssBytes)}, VmHWM ${mib(memory.hwmBytes)}`);
      if (only.has('rss')) {
        const imports = {
          clientNode: await importFootprint('@kubernetes/client-node'),
          controllerModules: await importFootprint(new URL('../../src/controller/command.ts', import.meta.url).href),
        };
        ctx.details.importFootprint = imports;
        rssRows(ctx, memory, fleet.idleMemory, memoryFigures, imports);
      }
      if (ctx.params.heapSnapshot) ctx.progress(`heap snapshot: ${await fleet.controller.heapSnapshot(join(ctx.workDir, 'profiles'))}`);
      await fleet.controller.stop();
      if (only.has('rss')) await compiledMemory(ctx, fleet);
    } finally {
      await fleet.controller.stop();
      await deleteQuietly(ctx, fleet.namespace);
    }
  }
  if (only.has('steady-state')) {
    const fleet = await startFleet(ctx, { namespace: 'bench-scoped', vault: VAULTS.scoped, principal: ctx.plan.scoped, label: 'scoped' });
    try {
      const counts = await countSteadyState(ctx, fleet.controller, VAULTS.scoped, 'steady state without list');
      ctx.details.steadyWithoutList = { ...counts, allReadyMs: fleet.allReadyMs };
      steadyRow(ctx, false, counts);
    } finally {
      await fleet.controller.stop();
      await deleteQuietly(ctx, fleet.namespace);
    }
  }
}

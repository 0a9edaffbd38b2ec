/**
 * Scenario 6: kvsync and External Secrets Operator side by side, for the same work. Each run of each
 * contender gets its own fresh control plane and Key Vault emulator, creates N syncs (KeyVaultSyncs, or
 * ExternalSecrets of one SecretStore `azurekv` / ServicePrincipal) of 3 objects each out of M shared ones,
 * every one writing the same Secret, refreshed every `refreshInterval`; then measures:
 *
 * - cold start: first create → all Ready (watched);
 * - over `cycles` quiet refresh intervals (after one settling interval): Key Vault requests and Entra token
 *   requests (the emulator's counters), apiserver reads and writes (the apiserver's own /metrics);
 * - rotation latency: new versions of distinct objects set at random times within 2 intervals; per
 *   (rotation, Secret) pair, for every Secret of every sync using the object, until a watch sees the new value
 *   in it (missed: not within 5 intervals of the rotation's start); per rotation, until all its Secrets hold it;
 * - the controller's RSS, peak RSS and CPU seconds (/proc).
 *
 * kvsync runs its production build, as the image runs it; ESO is its own binary (bench/lib/eso-binary.ts), in its own
 * mount namespace (bench/lib/eso-process.ts). Also the listing case for kvsync: a vault of V objects of
 * which only M are used.
 */
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { applyCrds, installCrds } from '../../src/api/install.ts';
import { startControlPlane, type RunningControlPlane } from '../../src/dev/control-plane.ts';
import { apiserverDelta, apiserverSnapshot, classifyRequests, type RequestClasses } from '../lib/apiserver-metrics.ts';
import { ControllerProcess } from '../lib/controller-process.ts';
import { countOf, breakdownOf, planEmulator, startBenchEmulator, VAULTS, type BenchEmulator } from '../lib/emulator.ts';
import { ensureEso, type EsoBinary } from '../lib/eso-binary.ts';
import { EsoProcess } from '../lib/eso-process.ts';
import { buildImageController, type ImageController } from '../lib/image-controller.ts';
import { BenchKube, CREDENTIALS_SECRET, KEYVAULTSYNCS, kvsSpec, planSyncs, type CustomResource, type KvsPlan } from '../lib/kube.ts';
import type { MemoryStatus } from '../lib/proc.ts';
import type { ResultRow } from '../lib/report.ts';
import { completePercentile, latencyPercentile, missedPairs, rotationTargets, type RotationSamples } from '../lib/rotation-samples.ts';
import { coldStartTimeline, formatSummary, perCycle as perCycleOf, seconds, summarizeRuns, type ColdStartTimeline, type RunSummary } from '../lib/stats.ts';
import { sleep, type CompareParams, type Contender } from './context.ts';
import { adminClient, rotateTargetsAtRandomTimes } from './rotation.ts';

export const EXTERNALSECRETS: CustomResource = { group: 'external-secrets.io', version: 'v1', plural: 'externalsecrets', kind: 'ExternalSecret' };
const SECRETSTORES: CustomResource = { group: 'external-secrets.io', version: 'v1', plural: 'secretstores', kind: 'SecretStore' };
const STORE = 'azurekv';
const NS = 'bench-compare';
const OPERATOR_NAMESPACE = 'kvsync-system';

export interface CompareEnv {
  params: CompareParams;
  root: string;
  workDir: string;
  progress: (line: string) => void;
  rows: ResultRow[];
  details: Record<string, unknown>;
}

/** What one run of one contender measured. */
export interface RunFigures {
  coldStartMs: number;
  /** Where the cold start's time went: creates acknowledged, first and last Ready, per-object create → Ready. */
  coldStart: ColdStartTimeline;
  /** The dry-run create sent before the clock started (the apiserver's first create of the resource), ms. */
  warmUpCreateMs: number;
  kvRequests: number;
  kvByOperation: Record<string, number>;
  tokenRequests: number;
  api: RequestClasses;
  apiserver: Record<string, { requests: number; meanMs: number }>;
  /** Every rotation with its (rotation, Secret) pairs' latencies or misses; empty when the run rotated nothing. */
  rotations: RotationSamples[];
  memory: MemoryStatus;
  /** CPU seconds over the whole run (start, cold start, quiet cycles, rotations). */
  cpuSeconds: number;
  /** CPU seconds during the quiet cycles. */
  quietCpuSeconds: number;
  /** Change-detection cycles kvsync ran in the quiet window (3 intervals hold 3 or 4); NaN for ESO, which has none. */
  cycles: number;
}

interface Contestant {
  resource: CustomResource;
  spec(plan: KvsPlan): Record<string, unknown>;
  /** Waits `windowMs` and counts the contender's change-detection cycles meanwhile (kvsync only). */
  countCycles?(windowMs: number): Promise<number>;
  memory(): MemoryStatus;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** What the contenders run: kvsync's image build and environment, ESO's binary. */
interface Tools {
  kvsync?: ImageController;
  eso?: EsoBinary;
}

interface RunSetup {
  contender: Contender;
  n: number;
  /** Objects the syncs use. */
  m: number;
  /** Objects in the vault (≥ m). */
  v: number;
  rotations: number;
  label: string;
}

async function startContestant(env: CompareEnv, s: RunSetup, cp: RunningControlPlane, kube: BenchKube, emulator: BenchEmulator, dir: string, tools: Tools): Promise<Contestant> {
  const { params } = env;
  const vaultUrl = emulator.endpoints.vaults[VAULTS.list] ?? '';
  const refresh = `${params.refreshSeconds}s`;
  if (s.contender === 'kvsync') {
    await installCrds(kube.kc);
    await kube.createNamespace(OPERATOR_NAMESPACE);
    const c = await ControllerProcess.start({
      name: `${s.label}-controller`,
      leash: cp.binaries.paths.leash,
      cli: tools.kvsync?.cli ?? '',
      env: tools.kvsync?.env,
      kubeconfig: cp.kubeconfigPath,
      endpointsFile: emulator.endpointsFile,
      operatorNamespace: OPERATOR_NAMESPACE,
      watchNamespace: NS,
      logDir: dir,
      nodeArgs: params.kvsyncNodeArgs ?? [],
      ...(params.kvsyncConcurrency === undefined ? {} : { extraArgs: ['--concurrency', String(params.kvsyncConcurrency)] }),
    });
    const vault = { name: VAULTS.list, url: vaultUrl, tenantID: emulator.endpoints.tenantID };
    return {
      resource: KEYVAULTSYNCS,
      spec: (p) => kvsSpec(p, vault, refresh),
      countCycles: async (windowMs) => (await c.countCycles(VAULTS.list, windowMs, params.refreshSeconds * 1000)).cycles,
      memory: () => c.memory(),
      cpuSeconds: () => c.cpuSeconds(),
      stop: () => c.stop(),
    };
  }
  const eso = tools.eso;
  if (eso === undefined) throw new Error('ESO is not built');
  // Parsed as plain YAML: client-node's loadAllYaml converts to its models and mangles x-kubernetes-* keys on the way.
  const crds = parseAllDocuments(await readFile(eso.crdsPath, 'utf8')).map((d) => d.toJSON() as unknown).filter((d): d is object => typeof d === 'object' && d !== null);
  await applyCrds(kube.kc, crds, 'kvsync-bench-eso', { timeoutMs: 60_000 });
  const p = await EsoProcess.start({
    name: `${s.label}-eso`,
    binary: eso,
    leash: cp.binaries.paths.leash,
    kubeconfig: cp.kubeconfigPath,
    namespace: NS,
    concurrent: params.esoConcurrent,
    emulator: { authorityHost: emulator.endpoints.authorityHost, caPem: emulator.caPem, vaultHosts: Object.keys(emulator.endpoints.resolve) },
    dir,
  });
  try {
    const ref = (key: string): Record<string, string> => ({ name: CREDENTIALS_SECRET, key });
    await kube.createSyncs(NS, [{
      name: STORE,
      spec: { provider: { azurekv: { authType: 'ServicePrincipal', tenantId: emulator.endpoints.tenantID, vaultUrl, authSecretRef: { clientId: ref('clientid'), clientSecret: ref('clientsecret') } } } },
    }], 1, SECRETSTORES);
    const stores = await kube.trackReady(NS, SECRETSTORES);
    try {
      await stores.waitAll([STORE], 60_000);
    } finally {
      await stores.stop();
    }
  } catch (err) {
    await p.stop();
    throw new Error(`ESO did not come up: ${err instanceof Error ? err.message : String(err)}\n${p.logTail(10)}`, { cause: err });
  }
  return {
    resource: EXTERNALSECRETS,
    spec: (plan) => ({
      refreshInterval: refresh,
      secretStoreRef: { name: STORE, kind: 'SecretStore' },
      target: { name: plan.secretName },
      data: plan.objects.map((o) => ({ secretKey: o, remoteRef: { key: o } })),
    }),
    memory: () => p.memory(),
    cpuSeconds: () => p.cpuSeconds(),
    stop: () => p.stop(),
  };
}

/** One run: a fresh control plane and emulator, one contender, every figure. */
async function runOnce(env: CompareEnv, s: RunSetup, tools: Tools): Promise<RunFigures> {
  const { params, progress } = env;
  const dir = await mkdtemp(join(env.workDir, `${s.label}-`));
  const stops: (() => Promise<void>)[] = [];
  try {
    const cp = await startControlPlane({});
    stops.push(() => cp.stop());
    const kube = new BenchKube(cp.kubeconfigPath);
    const plan = planEmulator({ m: s.v, rotations: 1, throttleObjects: 1 });
    const emulator = await startBenchEmulator({ plan, dir, leash: cp.binaries.paths.leash, cli: join(env.root, 'src', 'cli.ts') });
    stops.push(() => emulator.stop());
    await kube.createNamespace(NS);
    await kube.createCredentials(NS, plan.lister);
    const c = await startContestant(env, s, cp, kube, emulator, dir, tools);
    stops.push(() => c.stop());

    const used = plan.sharedObjects.slice(0, s.m);
    const plans = planSyncs('sync', s.n, used, params.objectsPerKvs);
    // Both contenders' clocks start with the apiserver past its one-time set-up of the sync resource.
    const [first] = plans;
    if (first === undefined) throw new RangeError('a comparison run needs at least one sync');
    const warmUpCreateMs = await kube.dryRunCreate(NS, c.resource, 'warm-up', c.spec(first));
    const tracker = await kube.trackReady(NS, c.resource);
    const t0 = Date.now();
    let acknowledgedAt = new Map<string, number>();
    try {
      acknowledgedAt = await kube.createSyncs(NS, plans.map((p) => ({ name: p.name, spec: c.spec(p) })), params.createConcurrency, c.resource);
      await tracker.waitAll(plans.map((p) => p.name), Math.max(300_000, s.n * 600), (ready) => progress(`${s.label}: ${ready}/${s.n} Ready after ${seconds(Date.now() - t0)}`));
    } finally {
      await tracker.stop();
    }
    const coldStartMs = Math.max(...tracker.readyAt.values()) - t0;
    const coldStart = coldStartTimeline(t0, acknowledgedAt, tracker.readyAt);
    progress(`${s.label}: warm-up create (dry run, before the clock) ${seconds(warmUpCreateMs)}; first create acknowledged at ${seconds(coldStart.firstCreateAckMs)}, all by ${seconds(coldStart.lastCreateAckMs)}, first Ready at ${seconds(coldStart.firstReadyMs)}, each create → Ready ${seconds(coldStart.createToReadyP50Ms)} median, ${seconds(coldStart.createToReadyMaxMs)} max`);
    progress(`${s.label}: all ${s.n} Ready in ${seconds(coldStartMs)}; settling ${params.refreshSeconds} s, then ${params.cycles} quiet cycles`);

    const interval = params.refreshSeconds * 1000;
    await sleep(interval);
    await emulator.admin.resetRequests();
    const apiBefore = await apiserverSnapshot(kube.kc);
    const cpuBefore = c.cpuSeconds();
    let cycles = NaN;
    if (c.countCycles === undefined) await sleep(interval * params.cycles);
    else cycles = await c.countCycles(interval * params.cycles);
    const quietCpuSeconds = c.cpuSeconds() - cpuBefore;
    const apiserver = apiserverDelta(apiBefore, await apiserverSnapshot(kube.kc));
    const counts = await emulator.admin.requests();
    const kvRequests = countOf(counts, VAULTS.list);
    const tokenRequests = counts.filter((x) => x.operation === 'token').reduce((sum, x) => sum + x.count, 0);
    const api = classifyRequests(apiserver);
    progress(`${s.label}: ${params.cycles} quiet intervals${Number.isNaN(cycles) ? '' : ` (${cycles} change-detection cycles)`}: ${kvRequests} Key Vault requests, ${tokenRequests} token requests, apiserver ${api.reads} reads / ${api.writes} writes`);

    const rotated = s.rotations > 0 ? await rotations(env, s, kube, emulator, plans, used) : [];
    if (s.rotations > 0) {
      const pairs = rotated.reduce((sum, r) => sum + r.pairs.length, 0);
      progress(`${s.label}: ${rotated.length} rotations, ${pairs} (rotation, Secret) pairs: p50 ${secs(latencyPercentile(rotated, 50))}, max ${secs(latencyPercentile(rotated, 100))}, missed ${missedPairs(rotated)}; complete p50 ${secs(completePercentile(rotated, 50))}, max ${secs(completePercentile(rotated, 100))}`);
    }
    return { coldStartMs, coldStart, warmUpCreateMs, kvRequests, kvByOperation: breakdownOf(counts, VAULTS.list), tokenRequests, api, apiserver, rotations: rotated, memory: c.memory(), cpuSeconds: c.cpuSeconds(), quietCpuSeconds, cycles };
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => progress(`${s.label}: stopping: ${String(err)}`));
  }
}

/** Rotation start times spread over this many refresh intervals. */
export const ROTATION_WINDOW_INTERVALS = 2;
/** A (rotation, Secret) pair not seen within this many refresh intervals of the rotation's start is missed. */
export const ROTATION_TIMEOUT_INTERVALS = 5;

/**
 * `s.rotations` distinct used objects get a new version each, at uniformly random times within 2 refresh
 * intervals, each watched in every Secret of every sync using it for 5 intervals (less when all are seen).
 */
async function rotations(env: CompareEnv, s: RunSetup, kube: BenchKube, emulator: BenchEmulator, plans: readonly KvsPlan[], used: readonly string[]): Promise<RotationSamples[]> {
  const interval = env.params.refreshSeconds * 1000;
  const client = adminClient(emulator, emulator.endpoints.vaults[VAULTS.list] ?? '');
  await client.getSecret(used[0] ?? '');
  const secrets = await kube.trackSecrets(NS);
  try {
    const targets = rotationTargets(plans, used.slice(0, s.rotations));
    return await rotateTargetsAtRandomTimes(client, secrets, targets, ROTATION_WINDOW_INTERVALS * interval, ROTATION_TIMEOUT_INTERVALS * interval);
  } finally {
    await secrets.stop();
  }
}

export interface CaseResult {
  setup: RunSetup;
  runs: RunFigures[];
  failures: string[];
}

/** Every contender at every size, `runs` times each, interleaved so that machine load drifts evenly. */
export async function runCompare(env: CompareEnv): Promise<void> {
  const { params, progress } = env;
  await mkdir(env.workDir, { recursive: true });
  const tools: Tools = {};
  if (params.contenders.includes('eso')) tools.eso = await ensureEso(progress);
  if (params.contenders.includes('kvsync') || params.listing !== undefined) {
    progress('compare: building kvsync as the image runs it (npm run build)');
    tools.kvsync = await buildImageController(env.root);
  }
  const cases: CaseResult[] = [];
  for (const n of params.sizes) {
    for (const contender of params.contenders) cases.push({ setup: { contender, n, m: params.m, v: params.m, rotations: Math.min(params.rotations, params.m), label: `${contender}-n${n}` }, runs: [], failures: [] });
  }
  if (params.listing !== undefined) {
    const { v, m, n } = params.listing;
    // Only its Key Vault requests are reported: no rotations.
    cases.push({ setup: { contender: 'kvsync', n, m, v, rotations: 0, label: `kvsync-listing-v${v}` }, runs: [], failures: [] });
  }
  for (let run = 1; run <= params.runs; run++) {
    for (const c of cases) {
      const t0 = Date.now();
      progress(`compare: ${c.setup.label}, run ${run}/${params.runs}`);
      try {
        c.runs.push(await runOnce(env, { ...c.setup, label: `${c.setup.label}-r${run}` }, tools));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        c.failures.push(message);
        progress(`compare: ${c.setup.label} run ${run} failed: ${message}`);
      }
      progress(`compare: ${c.setup.label} run ${run} took ${seconds(Date.now() - t0)}`);
    }
  }
  env.details.compare = cases.map((c) => ({ ...c.setup, runs: c.runs, failures: c.failures }));
  reportCompare(env, cases, tools.eso?.version ?? '');
}

/** The rows of scenarios 6 and 7 and the side-by-side table, from the runs' figures. */
export type ReportEnv = Pick<CompareEnv, 'params' | 'rows' | 'details'>;

export function reportCompare(env: ReportEnv, cases: readonly CaseResult[], esoVersion: string): void {
  const { params } = env;
  const sizes = params.contenders.length > 0 ? params.sizes : [];
  const pick = (n: number, contender: Contender): CaseResult | undefined => cases.find((c) => c.setup.n === n && c.setup.contender === contender && c.setup.v === c.setup.m);
  for (const n of sizes) compareRows(env, n, pick(n, 'kvsync'), pick(n, 'eso'), esoVersion);
  if (sizes.length > 0) {
    env.details.sideBySide = sideBySideTable(sizes.map((n) => ({ n, kvsync: pick(n, 'kvsync')?.runs ?? [], eso: pick(n, 'eso')?.runs ?? [] })), params.cycles, params.refreshSeconds);
  }
  const listing = cases.find((c) => c.setup.v !== c.setup.m);
  if (listing !== undefined) listingRow(env, listing);
}

/** One figure of the comparison: its per-run values and how to print them. */
export interface Figure {
  name: string;
  of: (r: RunFigures) => number;
  format: (v: number) => string;
  /** More of the runs' figures for the row's notes, per contender. */
  detail?: (runs: readonly RunFigures[]) => string;
}

const count = (v: number): string => (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(1));
const mb = (v: number): string => `${(v / 1e6).toFixed(0)} MB`;
const secs = (v: number): string => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)} s` : 'not seen');

const cpu = (v: number): string => `${v.toFixed(1)} s`;

export function figures(cycles: number, refreshSeconds: number): Figure[] {
  return [
    { name: `Key Vault requests in ${cycles} quiet refresh intervals`, of: (r) => r.kvRequests, format: count },
    { name: `Entra token requests in ${cycles} quiet refresh intervals`, of: (r) => r.tokenRequests, format: count },
    { name: `apiserver writes in ${cycles} quiet refresh intervals`, of: (r) => r.api.writes, format: count },
    { name: `apiserver reads (GET, LIST) in ${cycles} quiet refresh intervals`, of: (r) => r.api.reads, format: count },
    { name: 'cold start, first create → all Ready', of: (r) => r.coldStartMs, format: secs, detail: coldStartDetail },
    { name: `rotation latency p50, each Secret using the object (missed: not seen within ${ROTATION_TIMEOUT_INTERVALS * refreshSeconds} s)`, of: (r) => latencyPercentile(r.rotations, 50), format: secs },
    { name: 'rotation latency p99, each Secret using the object', of: (r) => latencyPercentile(r.rotations, 99), format: secs },
    { name: 'rotation latency max, each Secret using the object', of: (r) => latencyPercentile(r.rotations, 100), format: secs },
    { name: `(rotation, Secret) pairs missed, not seen within ${ROTATION_TIMEOUT_INTERVALS * refreshSeconds} s`, of: (r) => (r.rotations.length === 0 ? NaN : missedPairs(r.rotations)), format: count, detail: rotationDetail },
    { name: 'rotation complete p50, until every Secret using the object holds it', of: (r) => completePercentile(r.rotations, 50), format: secs },
    { name: 'rotation complete max, until every Secret using the object holds it', of: (r) => completePercentile(r.rotations, 100), format: secs },
    { name: 'controller RSS at the end', of: (r) => r.memory.rssBytes, format: mb },
    { name: 'controller peak RSS', of: (r) => r.memory.hwmBytes, format: mb },
    { name: 'controller CPU seconds, whole run', of: (r) => r.cpuSeconds, format: cpu },
    { name: `controller CPU seconds, ${cycles} quiet refresh intervals`, of: (r) => r.quietCpuSeconds, format: cpu },
  ];
}

/** Where the cold starts' time went (medians, range in brackets), and the warm-up create sent before the clock. */
export function coldStartDetail(runs: readonly RunFigures[]): string {
  const of = (pick: (r: RunFigures) => number): string => formatSummary(summarizeRuns(runs.map(pick)), secs);
  return `creates acknowledged ${of((r) => r.coldStart.firstCreateAckMs)} → ${of((r) => r.coldStart.lastCreateAckMs)}, first Ready ${of((r) => r.coldStart.firstReadyMs)}, each create → Ready ${of((r) => r.coldStart.createToReadyP50Ms)} median; warm-up create before the clock ${of((r) => r.warmUpCreateMs)}`;
}

/** How many rotations and (rotation, Secret) pairs each run sampled. */
export function rotationDetail(runs: readonly RunFigures[]): string {
  const of = (pick: (r: RunFigures) => number): string => formatSummary(summarizeRuns(runs.map(pick)), count);
  return `${of((r) => r.rotations.length)} rotations, ${of((r) => r.rotations.reduce((sum, x) => sum + x.pairs.length, 0))} (rotation, Secret) pairs per run`;
}

/** ESO / kvsync as `12×`, or `—` when kvsync's figure is 0 (then `0 vs X` says it). */
export function ratio(kvsync: RunSummary | undefined, eso: RunSummary | undefined): string {
  if (kvsync === undefined || eso === undefined) return 'n/a';
  if (kvsync.median === 0) return eso.median === 0 ? 'equal' : '∞ (kvsync 0)';
  const r = eso.median / kvsync.median;
  if (!Number.isFinite(r)) return Number.isFinite(kvsync.median) ? '∞ (ESO not seen)' : 'n/a (kvsync not seen)';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

function compareRows(env: ReportEnv, n: number, k: CaseResult | undefined, e: CaseResult | undefined, esoVersion: string): void {
  const { params } = env;
  const scenario = `6. kvsync vs ESO ${esoVersion}, N=${n} sharing M=${params.m}, refresh ${params.refreshSeconds} s`;
  for (const f of figures(params.cycles, params.refreshSeconds)) {
    const ks = k === undefined ? undefined : summarizeRuns(k.runs.map(f.of));
    const es = e === undefined ? undefined : summarizeRuns(e.runs.map(f.of));
    env.rows.push({
      scenario,
      figure: f.name,
      value: `kvsync ${formatSummary(ks, f.format)}`,
      baseline: `ESO ${formatSummary(es, f.format)}`,
      target: 'kvsync lower',
      met: ks === undefined || es === undefined ? undefined : ks.median < es.median || (ks.median === 0 && es.median === 0),
      notes: `ESO ÷ kvsync: ${ratio(ks, es)}; medians of ${ks?.runs ?? 0} kvsync and ${es?.runs ?? 0} ESO runs (range in brackets), each on a fresh control plane and emulator${detailNote(f, k, e)}${failureNote(k, e)}`,
    });
  }
}

/** The comparison as one Markdown table: per size, kvsync, ESO and the ratio of medians, each cell a median (range). */
export function sideBySideTable(sizes: readonly { n: number; kvsync: readonly RunFigures[]; eso: readonly RunFigures[] }[], cycles: number, refreshSeconds: number): string {
  const head = ['figure', ...sizes.flatMap(({ n }) => [`kvsync, N=${n}`, `ESO, N=${n}`, 'ESO ÷ kvsync'])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const f of figures(cycles, refreshSeconds)) {
    const cells = sizes.flatMap(({ kvsync, eso }) => {
      const k = summarizeRuns(kvsync.map(f.of));
      const e = summarizeRuns(eso.map(f.of));
      return [formatSummary(k, f.format), formatSummary(e, f.format), ratio(k, e)];
    });
    lines.push(`| ${f.name} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function detailNote(f: Figure, ...cases: (CaseResult | undefined)[]): string {
  const { detail } = f;
  if (detail === undefined) return '';
  return cases.flatMap((c) => (c === undefined || c.runs.length === 0 ? [] : [`; ${c.setup.contender}: ${detail(c.runs)}`])).join('');
}

function failureNote(...cases: (CaseResult | undefined)[]): string {
  const failed = cases.flatMap((c) => c?.failures.map((f) => `${c.setup.contender}: ${f.split('\n')[0] ?? ''}`) ?? []);
  return failed.length ? `; failed runs: ${failed.join('; ')}` : '';
}

function listingRow(env: ReportEnv, c: CaseResult): void {
  const { v, m, n } = c.setup;
  const { cycles } = env.params;
  const target = Math.min(Math.ceil(v / 25), m);
  const perCycle = summarizeRuns(c.runs.map((r) => perCycleOf(r.kvRequests, r.cycles)));
  const counted = c.runs.map((r) => r.cycles).join(', ');
  const ops = c.runs.at(-1)?.kvByOperation ?? {};
  env.rows.push({
    scenario: `7. listing case: vault of V=${v} objects, M=${m} used by N=${n} KeyVaultSyncs`,
    figure: 'Key Vault requests per quiet cycle',
    value: formatSummary(perCycle, (x) => x.toFixed(1)),
    baseline: `${Math.ceil(v / 25)} list pages or ${m} reads per cycle`,
    target: `≤ min(⌈V/25⌉, M) = ${target}`,
    met: perCycle === undefined ? undefined : perCycle.median <= target,
    notes: `median of ${perCycle?.runs ?? 0} runs (range in brackets) over ${cycles} quiet refresh intervals, divided by the change-detection cycles each run counted in them (${counted || 'none'}); last run's requests by operation: ${Object.entries(ops).map(([op, x]) => `${op}: ${x}`).join(', ') || 'none'}${failureNote(c)}`,
  });
}


/**
 * `npm run bench [-- --n 1000 --m 200 --only cold-start,steady-state,rss,rotation,throttle …]`
 *
 * The scale benchmark: ONE local control plane, ONE Key Vault emulator (its own process),
 * and the controller as a spawned `node src/cli.ts controller` per scenario group, each watching its
 * own namespace. Writes `<out>/latest.json` and `<out>/latest.md`; progress lines go to stderr.
 * Never part of `npm test`. See docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installCrds } from '../src/api/install.ts';
import { startControlPlane } from '../src/dev/control-plane.ts';
import { commitOf } from './lib/commit.ts';
import { ControllerProcess, controllerFlags } from './lib/controller-process.ts';
import { planEmulator, startBenchEmulator } from './lib/emulator.ts';
import { BenchKube } from './lib/kube.ts';
import { writeResults, type BenchResults, type ResultRow } from './lib/report.ts';
import { DEFAULT_SCENARIOS, SCENARIOS, type BenchContext, type BenchParams, type ScenarioName } from './scenarios/context.ts';
import { runCompare } from './scenarios/compare.ts';
import type { Contender } from './scenarios/context.ts';
import { runRotation } from './scenarios/rotation.ts';
import { runScale } from './scenarios/scale.ts';
import { runThrottle } from './scenarios/throttle.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(root, 'src', 'cli.ts');
const OPERATOR_NAMESPACE = 'kvsync-system';

const USAGE = `usage: npm run bench -- [flags]

  --n N                    KeyVaultSyncs for cold start, steady state, memory (default 1000)
  --m M                    shared Key Vault objects (default 200)
  --objects-per-kvs K      objects each KeyVaultSync uses (default 3)
  --refresh SECONDS        refreshInterval in steady state and throttling (default 20)
  --cycles C               refresh cycles counted in steady state (default 3)
  --create-concurrency C   requests in flight creating KeyVaultSyncs and baseline Secrets (default 4, ESO's --concurrent in the comparison)
  --controller-concurrency C   pass --concurrency C to the controller (default: its own default)
  --rotations R            rotations per rotation scenario (default 20)
  --poll SECONDS           refreshInterval of the polled rotation KeyVaultSyncs (default 20)
  --throttle-n N           KeyVaultSyncs in the throttling scenario (default 100)
  --throttle-objects K     objects in the throttled vault (default 100)
  --throttle-limit L       emulator limit, requests per 10 s (default 50)
  --compare-sizes LIST     N of the kvsync-vs-ESO comparison (default 100,1000)
  --compare-refresh S      refreshInterval in scenarios 6 and 7, seconds (default 10, the CRD minimum, so that 3 runs fit)
  --compare-runs R         runs per contender and size, and of the listing case; figures are medians (default 3)
  --compare-rotations R    rotations per comparison run, at random times (default 50)
  --contenders LIST        kvsync,eso (default both)
  --listing V,M,N          listing case: V objects in the vault, M used by N KeyVaultSyncs (default 5000,10,100)
  --only LIST              comma-separated: ${SCENARIOS.join(', ')}, or all
                           (default ${DEFAULT_SCENARIOS.join(',')}: scenario 6 measures steady state and memory at N=1,000)
  --out DIR                results folder (default bench/results)
  --cpu-prof               run the controllers with --cpu-prof (profiles in the work dir, kept)
  --controller-node-args "ARGS"   extra Node flags for the controllers, e.g. "--max-semi-space-size=2"
  --heap-snapshot          write a heap snapshot of the scale controller after the memory reading (work dir, kept)`;

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${flag} must be a positive integer, got "${v}"`);
  return n;
}

function parseParams(argv: string[]): { params: BenchParams; out: string } | number {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        n: { type: 'string', default: '1000' },
        m: { type: 'string', default: '200' },
        'objects-per-kvs': { type: 'string', default: '3' },
        refresh: { type: 'string', default: '20' },
        cycles: { type: 'string', default: '3' },
        'create-concurrency': { type: 'string', default: '4' },
        'controller-concurrency': { type: 'string' },
        rotations: { type: 'string', default: '20' },
        poll: { type: 'string', default: '20' },
        'throttle-n': { type: 'string', default: '100' },
        'throttle-objects': { type: 'string', default: '100' },
        'throttle-limit': { type: 'string', default: '50' },
        'compare-sizes': { type: 'string', default: '100,1000' },
        'compare-runs': { type: 'string', default: '3' },
        'compare-refresh': { type: 'string', default: '10' },
        'compare-rotations': { type: 'string', default: '50' },
        contenders: { type: 'string', default: 'kvsync,eso' },
        listing: { type: 'string', default: '5000,10,100' },
        only: { type: 'string', default: DEFAULT_SCENARIOS.join(',') },
        out: { type: 'string', default: join(root, 'bench', 'results') },
        'cpu-prof': { type: 'boolean', default: false },
        'heap-snapshot': { type: 'boolean', default: false },
        'controller-node-args': { type: 'string', default: '' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
    if (values.help === true) {
      console.log(USAGE);
      return 0;
    }
    const only = new Set<ScenarioName>();
    for (const s of (values.only === 'all' ? SCENARIOS.join(',') : values.only).split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!(SCENARIOS as readonly string[]).includes(s)) throw new RangeError(`--only: unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})`);
      only.add(s as ScenarioName);
    }
    const refresh = positiveInt(values.refresh, 'refresh');
    const poll = positiveInt(values.poll, 'poll');
    const compareRefresh = positiveInt(values['compare-refresh'], 'compare-refresh');
    if (refresh < 10 || poll < 10 || compareRefresh < 10) throw new RangeError('--refresh, --poll and --compare-refresh must be at least 10 (the CRD minimum refreshInterval)');
    const contenders = values.contenders.split(',').map((x) => x.trim()).filter(Boolean);
    for (const c of contenders) if (c !== 'kvsync' && c !== 'eso') throw new RangeError(`--contenders: unknown "${c}" (known: kvsync, eso)`);
    const [listingV, listingM, listingN] = values.listing.split(',').map((x) => positiveInt(x.trim(), 'listing'));
    if (listingV === undefined || listingM === undefined || listingN === undefined || listingM > listingV) throw new RangeError('--listing must be V,M,N with M ≤ V');
    const m = positiveInt(values.m, 'm');
    const objectsPerKvs = positiveInt(values['objects-per-kvs'], 'objects-per-kvs');
    const createConcurrency = positiveInt(values['create-concurrency'], 'create-concurrency');
    const cycles = positiveInt(values.cycles, 'cycles');
    return {
      out: resolve(values.out),
      params: {
        compare: {
          sizes: values['compare-sizes'].split(',').map((x) => positiveInt(x.trim(), 'compare-sizes')),
          m,
          objectsPerKvs,
          refreshSeconds: compareRefresh,
          cycles,
          runs: positiveInt(values['compare-runs'], 'compare-runs'),
          rotations: positiveInt(values['compare-rotations'], 'compare-rotations'),
          createConcurrency,
          esoConcurrent: 4,
          listing: only.has('listing') ? { v: listingV, m: listingM, n: listingN } : undefined,
          contenders: only.has('compare') ? (contenders as Contender[]) : [],
        },
        n: positiveInt(values.n, 'n'),
        m,
        objectsPerKvs,
        refreshSeconds: refresh,
        cycles,
        createConcurrency,
        controllerConcurrency: values['controller-concurrency'] === undefined ? undefined : positiveInt(values['controller-concurrency'], 'controller-concurrency'),
        rotations: positiveInt(values.rotations, 'rotations'),
        pollSeconds: poll,
        throttleN: positiveInt(values['throttle-n'], 'throttle-n'),
        throttleObjects: positiveInt(values['throttle-objects'], 'throttle-objects'),
        throttleLimit: positiveInt(values['throttle-limit'], 'throttle-limit'),
        only,
        cpuProf: values['cpu-prof'],
        heapSnapshot: values['heap-snapshot'],
        controllerNodeArgs: values['controller-node-args'].split(' ').filter(Boolean),
      },
    };
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
}

const startedMs = Date.now();
const progress = (line: string): void => {
  const t = ((Date.now() - startedMs) / 1000).toFixed(0).padStart(5);
  process.stderr.write(`[bench +${t}s] ${line}\n`);
};

async function main(argv: string[]): Promise<number> {
  const parsed = parseParams(argv);
  if (typeof parsed === 'number') return parsed;
  const { params, out } = parsed;
  const startedAt = new Date().toISOString();
  const commit = commitOf(root);
  const workDir = await mkdtemp(join(tmpdir(), 'kvsync-bench-'));
  if (params.cpuProf || params.heapSnapshot) await mkdir(join(workDir, 'profiles'));
  const rows: ResultRow[] = [];
  const details: Record<string, unknown> = {};
  const environment: Record<string, unknown> = {};
  const stops: (() => Promise<void>)[] = [];
  let failed = false;
  const fail = (name: string, err: unknown): void => {
    failed = true;
    const message = err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err);
    progress(`${name} failed: ${message}`);
    rows.push({ scenario: name, figure: '—', value: 'failed', baseline: '—', target: '—', met: false, notes: `the scenario failed: ${message}` });
  };
  try {
    if (params.compare.contenders.length > 0 || params.compare.listing !== undefined) {
      // Before the shared control plane starts: every comparison run brings its own.
      try {
        const profiles = params.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(workDir, 'profiles')] : [];
        const compare = { ...params.compare, kvsyncNodeArgs: [...params.controllerNodeArgs, ...profiles], kvsyncConcurrency: params.controllerConcurrency };
        await runCompare({ params: compare, root, workDir: join(workDir, 'compare'), progress, rows, details });
      } catch (err) {
        fail('6. kvsync vs ESO', err);
      }
    }
    const groups: { name: string; wanted: boolean; run: (c: BenchContext) => Promise<void> }[] = [
      { name: 'scale (cold start, steady state, memory)', wanted: ['cold-start', 'steady-state', 'rss'].some((s) => params.only.has(s as ScenarioName)), run: runScale },
      { name: 'rotation', wanted: params.only.has('rotation'), run: runRotation },
      { name: 'throttle', wanted: params.only.has('throttle'), run: runThrottle },
    ];
    if (groups.some((g) => g.wanted)) {
      progress(`work dir ${workDir}; starting the control plane`);
      const cp = await startControlPlane({ log: (l) => progress(`control plane: ${l}`) });
      stops.push(() => cp.stop());
      environment['kube-apiserver'] = cp.version;
      const kube = new BenchKube(cp.kubeconfigPath);
      await installCrds(kube.kc);
      await kube.createNamespace(OPERATOR_NAMESPACE);
      const plan = planEmulator({ m: params.m, rotations: params.rotations, throttleObjects: params.throttleObjects });
      const emulator = await startBenchEmulator({ plan, dir: workDir, leash: cp.binaries.paths.leash, cli: CLI });
      stops.push(() => emulator.stop());
      progress(`emulator up (admin ${emulator.endpoints.adminUrl}); kube-apiserver ${cp.version}`);
      const flags = controllerFlags(execFileSync(process.execPath, [CLI, 'controller', '--help'], { encoding: 'utf8' }));
      const ctx: BenchContext = {
        params,
        kube,
        emulator,
        plan,
        controllerFlags: flags,
        progress,
        rows,
        details,
        workDir,
        root,
        startController: async (name, watchNamespace, extraArgs = [], image) => {
          progress(`starting ${name} (watching ${watchNamespace}${extraArgs.length ? `, ${extraArgs.filter((a) => !a.includes('/')).join(' ')}` : ''})`);
          return ControllerProcess.start({
            name,
            leash: cp.binaries.paths.leash,
            cli: image?.cli ?? CLI,
            env: image?.env,
            kubeconfig: cp.kubeconfigPath,
            endpointsFile: emulator.endpointsFile,
            operatorNamespace: OPERATOR_NAMESPACE,
            watchNamespace,
            logDir: workDir,
            extraArgs,
            nodeArgs: [
              ...params.controllerNodeArgs,
              ...(params.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(workDir, 'profiles')] : []),
              ...(params.heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${join(workDir, 'profiles')}`] : []),
            ],
          });
        },
      };
      for (const g of groups) {
        if (!g.wanted) continue;
        try {
          await g.run(ctx);
        } catch (err) {
          fail(g.name, err);
        }
      }
    }
    // Scenario order (1–7), whatever order the groups ran in.
    rows.sort((a, b) => (Number.parseInt(a.scenario, 10) || 99) - (Number.parseInt(b.scenario, 10) || 99));
    const results: BenchResults = {
      startedAt,
      finishedAt: new Date().toISOString(),
      commit,
      command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      parameters: { ...params, only: [...params.only].join(',') },
      environment: {
        node: process.version,
        cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}`,
        memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
        'load average at end': loadavg().map((l) => l.toFixed(2)).join(' '),
        ...environment,
      },
      rows,
      details,
    };
    await writeResults(results, join(out, 'latest.json'), join(out, 'latest.md'));
    progress(`results: ${join(out, 'latest.md')}`);
    console.log(rows.map((r) => `${r.met === undefined ? '  -  ' : r.met ? '  ok ' : 'MISS '} ${r.scenario} — ${r.figure}: ${r.value} (target ${r.target}; baseline ${r.baseline})`).join('\n'));
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => progress(`stopping: ${String(err)}`));
    if (params.cpuProf || params.heapSnapshot) progress(`profiles kept in ${join(workDir, 'profiles')}`);
    else await rm(workDir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));

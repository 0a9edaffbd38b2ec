/** What every scenario gets from the harness: parameters, the cluster, the emulator, a controller launcher, and the result sink. */
import type { ControllerProcess } from '../lib/controller-process.ts';
import type { BenchEmulator, EmulatorPlan } from '../lib/emulator.ts';
import type { BenchKube } from '../lib/kube.ts';
import type { ResultRow } from '../lib/report.ts';
import type { ImageController } from '../lib/image-controller.ts';

/** Who runs a comparison case. */
export type Contender = 'kvsync' | 'eso';

/** What the side-by-side comparison runs. */
export interface CompareParams {
  /** Sizes N to compare at. */
  sizes: number[];
  /** Shared objects M. */
  m: number;
  objectsPerKvs: number;
  refreshSeconds: number;
  cycles: number;
  /** Runs per contender and size; every figure is the median. */
  runs: number;
  /** Rotations per run. */
  rotations: number;
  createConcurrency: number;
  /** ESO `--concurrent` (4: its workers all read the one vault, as kvsync's default four per vault do). */
  esoConcurrent: number;
  /** The listing case (kvsync only): V objects in the vault, M of them used by N syncs; undefined: skipped. */
  listing: { v: number; m: number; n: number } | undefined;
  contenders: Contender[];
  /** Node flags for kvsync's controller (diagnostics, e.g. --cpu-prof with its directory). */
  kvsyncNodeArgs?: string[] | undefined;
  /** kvsync's `--concurrency`; undefined = its default. */
  kvsyncConcurrency?: number | undefined;
}

export interface BenchParams {
  /** KeyVaultSyncs in the steady-state, cold-start and RSS scenarios. */
  n: number;
  /** Shared objects in the vault. */
  m: number;
  /** Objects each KeyVaultSync uses. */
  objectsPerKvs: number;
  /** refreshInterval of the steady-state KeyVaultSyncs, seconds. */
  refreshSeconds: number;
  /** Refresh cycles counted in steady state. */
  cycles: number;
  /** Requests in flight when creating KeyVaultSyncs or baseline Secrets. */
  createConcurrency: number;
  /** Controller `--concurrency`; undefined = its default. */
  controllerConcurrency: number | undefined;
  /** Rotations per rotation scenario. */
  rotations: number;
  /** refreshInterval of the polled rotation KeyVaultSyncs, seconds. */
  pollSeconds: number;
  /** KeyVaultSyncs in the throttling scenario. */
  throttleN: number;
  /** Objects in the throttled vault. */
  throttleObjects: number;
  /** The emulator's limit in the throttling scenario, requests per 10 s. */
  throttleLimit: number;
  /** Scenarios to run. */
  only: Set<ScenarioName>;
  /** Pass --cpu-prof to the controllers (profiles in the work dir). */
  cpuProf: boolean;
  /** Write a heap snapshot of the scale controller after the memory reading. */
  heapSnapshot: boolean;
  /** Extra Node flags for the controller processes (diagnostics; the table says so when set). */
  controllerNodeArgs: string[];
  /** The side-by-side comparison with ESO and the listing case (scenarios 6 and 7). */
  compare: CompareParams;
}

export const SCENARIOS = ['compare', 'listing', 'cold-start', 'steady-state', 'rss', 'rotation', 'throttle'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** What `npm run bench` runs without --only: within 30 minutes on 2 cores (docs/benchmarks.md, "Time budget"). */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = ['compare', 'listing', 'cold-start', 'rotation'];

export interface BenchContext {
  params: BenchParams;
  kube: BenchKube;
  emulator: BenchEmulator;
  plan: EmulatorPlan;
  /** Flags `kvsync controller --help` lists (features that have landed). */
  controllerFlags: Set<string>;
  /** Starts a controller watching one namespace: from src/cli.ts, or as the image runs it (`image`: its build and environment). */
  startController(name: string, watchNamespace: string, extraArgs?: string[], image?: ImageController): Promise<ControllerProcess>;
  /** The repository's root folder. */
  root: string;
  /** A progress line on stderr. */
  progress(line: string): void;
  rows: ResultRow[];
  details: Record<string, unknown>;
  workDir: string;
}

/** The vault reference a KeyVaultSync needs for an emulator vault. */
export function vaultRef(ctx: BenchContext, name: string): { name: string; url: string; tenantID: string } {
  const url = ctx.emulator.endpoints.vaults[name];
  if (url === undefined) throw new Error(`the emulator has no vault ${name}`);
  return { name, url, tenantID: ctx.emulator.endpoints.tenantID };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The controller as a separate process (`node src/cli.ts controller …` under leash), so its memory is
 * its own: VmRSS / VmHWM are read from /proc/<pid>/status of the Node process (leash's child), and
 * its Prometheus /metrics are scraped from the health address.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { get } from 'node:http';
import { join } from 'node:path';
import { SupervisedProcess } from '../../src/dev/supervised-process.ts';
import { freePort } from '../../src/dev/ports.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { childPid, cpuSecondsOf, memoryOf, type MemoryStatus } from './proc.ts';
import { countBursts, sampleCounter, type CounterSample } from './stats.ts';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ControllerProcessOptions {
  name: string;
  leash: string;
  cli: string;
  kubeconfig: string;
  endpointsFile: string;
  operatorNamespace: string;
  /** Only this namespace; undefined watches all. */
  watchNamespace: string | undefined;
  logDir: string;
  /** Leader election on the Lease (default false: one replica). */
  leaderElect?: boolean;
  /** pino level (default warn). */
  logLevel?: string;
  /** More controller flags (e.g. --eventgrid-addr). */
  extraArgs?: string[];
  /** Node flags, e.g. ['--cpu-prof', '--cpu-prof-dir', DIR]. */
  nodeArgs?: string[];
  /** Environment variables set for the controller on top of the bench's own (the image's `ENV`). */
  env?: Record<string, string>;
}

export class ControllerProcess {
  readonly healthUrl: string;
  readonly logPath: string;
  readonly #proc: SupervisedProcess;

  private constructor(proc: SupervisedProcess, healthUrl: string) {
    this.#proc = proc;
    this.healthUrl = healthUrl;
    this.logPath = proc.logPath;
  }

  /** Spawns the controller and resolves once /readyz answers 200 (informers synced). */
  static async start(o: ControllerProcessOptions): Promise<ControllerProcess> {
    const port = await freePort();
    const args = [
      ...(o.nodeArgs ?? []),
      o.cli,
      'controller',
      '--kubeconfig', o.kubeconfig,
      '--azure-endpoints', o.endpointsFile,
      '--namespace', o.operatorNamespace,
      ...(o.watchNamespace === undefined ? [] : ['--watch-namespace', o.watchNamespace]),
      '--health-addr', `127.0.0.1:${port}`,
      `--leader-elect=${o.leaderElect ?? false}`,
      '--log-level', o.logLevel ?? 'warn',
      ...(o.extraArgs ?? []),
    ];
    // Through env(1), which execs Node: leash's child is still the Node process (its pid for /proc).
    const vars = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const [binary, argv] = vars.length > 0 ? ['env', [...vars, process.execPath, ...args]] : [process.execPath, args];
    const proc = new SupervisedProcess(o.name, o.leash, binary, argv, join(o.logDir, `${o.name}.log`));
    const c = new ControllerProcess(proc, `http://127.0.0.1:${port}`);
    await pollUntil(
      async () => {
        if (!proc.running) throw new Error(`the controller exited:\n${proc.logTail(20)}`);
        return (await httpGet(`${c.healthUrl}/readyz`)).status === 200 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: 'the controller to be ready', isFatal: (err) => err instanceof Error && err.message.startsWith('the controller exited') },
    );
    return c;
  }

  get running(): boolean {
    return this.#proc.running;
  }

  /** The supervised process (leash), e.g. to check it is still running. */
  get process(): SupervisedProcess {
    return this.#proc;
  }

  /** PID of the Node process itself (leash's child). */
  nodePid(): number {
    const leashPid = this.#proc.pid;
    if (leashPid === undefined) throw new Error('the controller process has no pid');
    return childPid(leashPid);
  }

  memory(): MemoryStatus {
    return memoryOf(this.nodePid());
  }

  /** User plus system CPU seconds the controller has used since it started. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.nodePid());
  }

  /** The Prometheus text of /metrics. */
  async metrics(): Promise<string> {
    const r = await httpGet(`${this.healthUrl}/metrics`);
    if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
    return r.text;
  }

  /**
   * Watches the controller for `windowMs` and counts its change-detection cycles against `vault`: its own
   * count of Key Vault requests to that vault (`kvsync_keyvault_requests_total`), sampled every second,
   * falls into one burst per cycle (cycles start 90–100 % of `intervalMs` apart, so bursts are told apart
   * by half an interval of quiet). The window holds 3 or 4 cycle starts for 3 intervals, not always 3.
   */
  async countCycles(vault: string, windowMs: number, intervalMs: number): Promise<{ cycles: number; samples: CounterSample[] }> {
    const samples = await sampleCounter(async () => metricSum(await this.metrics(), 'kvsync_keyvault_requests_total', (l) => l.includes(`vault="${vault}"`)), windowMs);
    return { cycles: countBursts(samples, intervalMs / 2), samples };
  }

  /** Signals the controller (started with --heapsnapshot-signal=SIGUSR2) and resolves with the snapshot's path once written. */
  async heapSnapshot(dir: string): Promise<string> {
    const before = new Set(listSnapshots(dir));
    process.kill(this.nodePid(), 'SIGUSR2');
    const file = await pollUntil(() => listSnapshots(dir).find((f) => !before.has(f)), { timeoutMs: 300_000, intervalMs: 500, description: 'the heap snapshot' });
    // Written in one go but large: wait until its size stops changing.
    let size = -1;
    await pollUntil(() => {
      const now = statSync(join(dir, file)).size;
      const done = now === size && now > 0;
      size = now;
      return done ? true : undefined;
    }, { timeoutMs: 300_000, intervalMs: 2000, description: 'the heap snapshot to be complete' });
    return join(dir, file);
  }

  logTail(lines: number): string {
    return this.#proc.logTail(lines);
  }

  async stop(): Promise<void> {
    await this.#proc.stop(30_000);
  }
}

function listSnapshots(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')) : [];
}

export function httpGet(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on('error', reject);
  });
}

/** Sum of a metric's samples whose name and labels match, from Prometheus text (`name{labels} value`). */
export function metricSum(text: string, name: string, labelFilter: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name || !labelFilter(m[2] ?? '')) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/**
 * VmRSS of a fresh Node process that only imports `specifier` (a package name or a file URL): what a
 * dependency costs before any work is done. Runs with the same Node binary as the controller.
 */
export async function importFootprint(specifier: string): Promise<number> {
  const script = `await import(${JSON.stringify(specifier)}); await new Promise((r) => setTimeout(r, 300)); const m = /^VmRSS:\\s+(\\d+) kB/m.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8')); console.log(Number(m?.[1] ?? NaN) * 1024);`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 });
  return Number(stdout.trim());
}

/** Names of the flags `kvsync controller --help` lists, to adapt to features that have landed. */
export function controllerFlags(helpText: string): Set<string> {
  return new Set([...helpText.matchAll(/--([a-z][a-z0-9-]+)/g)].map((m) => m[1] ?? ''));
}

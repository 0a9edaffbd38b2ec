/**
 * Runs the real controller as a child process (controller-process-entry.ts) and lets a test act on
 * it at a named step of a sync: wait for the step, find the process frozen there, SIGKILL it, or
 * SIGCONT it. Every stdout line of the child (log records and step records) is kept for the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pollUntil } from '../../../src/util/poll.ts';
import type { HarnessOptions, HarnessRecord } from './controller-process-entry.ts';

const ENTRY = fileURLToPath(new URL('./controller-process-entry.ts', import.meta.url));

/** A log record of the child (pino JSON), or a line that was not JSON. */
export interface LogRecord {
  msg?: string;
  level?: number;
  [field: string]: unknown;
}

type StepRecord = Extract<HarnessRecord, { harness: 'step' }>;

export interface ControllerProcessOptions extends HarnessOptions {
  kubeconfig: string;
  endpointsFile: string;
  /** Operator namespace (MAC key, Lease). */
  namespace: string;
  watchNamespace: string;
  /** Extra `kvsync controller` flags. */
  flags?: string[];
}

export class ControllerProcess {
  readonly identity: string;
  /** The harness records (steps, leadership) in order. */
  readonly records: HarnessRecord[] = [];
  readonly logs: LogRecord[] = [];
  readonly #child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(opts: ControllerProcessOptions) {
    this.identity = opts.identity;
    const { kubeconfig, endpointsFile, namespace, watchNamespace, flags = [], ...harness } = opts;
    const args = [
      ENTRY,
      JSON.stringify(harness),
      '--',
      `--kubeconfig=${kubeconfig}`,
      `--azure-endpoints=${endpointsFile}`,
      `--namespace=${namespace}`,
      `--watch-namespace=${watchNamespace}`,
      '--health-addr=127.0.0.1:0',
      '--log-level=info',
      ...flags,
    ];
    this.#child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    const rl = createInterface({ input: this.#child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = { msg: line };
      }
      if (typeof parsed === 'object' && parsed !== null && 'harness' in parsed) this.records.push(parsed as HarnessRecord);
      else this.logs.push(parsed as LogRecord);
    });
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error(`controller ${this.identity} has no pid`);
    return pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Step records so far. */
  steps(): StepRecord[] {
    return this.records.filter((r): r is StepRecord => r.harness === 'step');
  }

  /** Log records whose message is `msg`. */
  logged(msg: string): LogRecord[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  /** Waits for a harness record matching `match` (seen before or after the call); fails early if the process exits. */
  async waitFor<T extends HarnessRecord>(description: string, match: (r: HarnessRecord) => r is T, timeoutMs = 90_000): Promise<T> {
    return pollUntil(
      () => {
        const found = this.records.find(match);
        if (found !== undefined) return found;
        if (this.#exit !== undefined) throw new ProcessExitedError(`controller ${this.identity} exited (${this.#exit.signal ?? String(this.#exit.code)}) before ${description}`);
        return undefined;
      },
      { timeoutMs, intervalMs: 50, description: `controller ${this.identity}: ${description}`, isFatal: (err) => err instanceof ProcessExitedError },
    );
  }

  /** Waits until the write fence is open (this replica leads and holds the lease). */
  async waitLeading(timeoutMs?: number): Promise<void> {
    await this.waitFor('leading', (r): r is HarnessRecord => r.harness === 'leader' && r.leader, timeoutMs);
  }

  /** Waits until the process stopped itself at its `stopAt` step (state T in /proc), and returns that step's record. */
  async waitStoppedAtStep(timeoutMs = 90_000): Promise<StepRecord> {
    const record = await this.waitFor('its stop step', (r): r is StepRecord => r.harness === 'step' && r.stopping, timeoutMs);
    await pollUntil(() => (processState(this.pid) === 'T' ? true : undefined), { timeoutMs: 10_000, intervalMs: 20, description: `controller ${this.identity} stopped` });
    return record;
  }

  /** The last `n` log lines, for a failing test's output. */
  logTail(n = 40): string {
    return this.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  signal(signal: NodeJS.Signals): void {
    if (this.#exit === undefined) this.#child.kill(signal);
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (the controller releases its lease), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.#exit !== undefined) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

class ProcessExitedError extends Error {}

/** The state letter of /proc/PID/stat (R, S, T, Z, …), or undefined when the process is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

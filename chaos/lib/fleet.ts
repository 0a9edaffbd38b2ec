/**
 * The processes a chaos run starts and its faults kill, pause and restart: the controller's replicas
 * (leader election on, each instance's Lease identity read from its log) and the mount sidecars (each a
 * `kvsync mount` writing into its own directory). Every instance is remembered, with whether the run
 * killed it on purpose, so the checker can tell a planned death from a crash.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerProcess } from '../../bench/lib/controller-process.ts';
import { childPid } from '../../bench/lib/proc.ts';
import { SupervisedProcess } from '../../src/dev/supervised-process.ts';
import { pollUntil } from '../../src/util/poll.ts';
import type { MemorySample } from './checker.ts';

export interface Instance {
  name: string;
  process: SupervisedProcess;
  killedOnPurpose: boolean;
  startedAtMs: number;
}

export interface ControllerInstance extends Instance {
  controller: ControllerProcess;
  /** holderIdentity it writes into the Lease. */
  identity: string;
  /** RSS while it held the Lease. */
  memory: MemorySample[];
}

export interface FleetOptions {
  leash: string;
  cli: string;
  kubeconfig: string;
  endpointsFile: string;
  operatorNamespace: string;
  watchNamespace: string;
  logDir: string;
}

/** The Lease identity from the controller's JSON log line "controller started". */
export function identityFromLog(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('controller started')) continue;
    try {
      const record = JSON.parse(line) as { identity?: unknown };
      if (typeof record.identity === 'string') return record.identity;
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

/** PID of the Node process under a leash. */
export function nodePidOf(proc: SupervisedProcess): number {
  const leash = proc.pid;
  if (leash === undefined) throw new Error(`${proc.name} has no pid`);
  return childPid(leash);
}

export class ControllerFleet {
  readonly #o: FleetOptions;
  readonly #generation: number[] = [];
  /** The current instance of each replica (undefined while it is down). */
  readonly current: (ControllerInstance | undefined)[] = [];
  readonly all: ControllerInstance[] = [];
  /** Replicas a fault is acting on (killed and not yet restarted, or stopped). */
  readonly busy = new Set<number>();

  constructor(o: FleetOptions) {
    this.#o = o;
  }

  async start(replica: number): Promise<ControllerInstance> {
    const generation = (this.#generation[replica] ?? 0) + 1;
    this.#generation[replica] = generation;
    const name = `controller-${String.fromCharCode(97 + replica)}-${generation}`;
    const controller = await ControllerProcess.start({
      name,
      leash: this.#o.leash,
      cli: this.#o.cli,
      kubeconfig: this.#o.kubeconfig,
      endpointsFile: this.#o.endpointsFile,
      operatorNamespace: this.#o.operatorNamespace,
      watchNamespace: this.#o.watchNamespace,
      logDir: this.#o.logDir,
      leaderElect: true,
      logLevel: 'info',
      extraArgs: ['--log-format', 'json'],
    });
    const identity = await pollUntil(() => identityFromLog(readFileSync(controller.logPath, 'utf8')), { timeoutMs: 30_000, intervalMs: 200, description: `${name}'s identity in its log` });
    const instance: ControllerInstance = { name, process: controller.process, controller, identity, killedOnPurpose: false, startedAtMs: Date.now(), memory: [] };
    this.current[replica] = instance;
    this.all.push(instance);
    return instance;
  }

  /** SIGKILL of the replica's Node process; the instance is marked killed on purpose first. */
  async kill(replica: number): Promise<void> {
    const instance = this.current[replica];
    if (instance === undefined) return;
    instance.killedOnPurpose = true;
    this.current[replica] = undefined;
    process.kill(instance.controller.nodePid(), 'SIGKILL');
    await pollUntil(() => (instance.process.running ? undefined : true), { timeoutMs: 30_000, intervalMs: 100, description: `${instance.name} to exit` });
  }

  signal(replica: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const instance = this.current[replica];
    if (instance !== undefined) process.kill(instance.controller.nodePid(), signal);
  }

  /** The replica whose instance holds the Lease, if any. */
  replicaHolding(holderIdentity: string | undefined): number | undefined {
    const i = this.current.findIndex((c) => c !== undefined && c.identity === holderIdentity);
    return i < 0 ? undefined : i;
  }

  /**
   * Samples the RSS of the instance holding the Lease: the leader does the work, and a standby that
   * takes over grows to the leader's working set, which is not a leak.
   */
  sampleLeaderMemory(holderIdentity: string | undefined): void {
    const leader = this.current.find((c) => c !== undefined && c.identity === holderIdentity);
    if (leader === undefined || !leader.process.running) return;
    try {
      leader.memory.push({ atMs: Date.now(), rssBytes: leader.controller.memory().rssBytes });
    } catch {
      // exited between the check and the read
    }
  }

  async stop(): Promise<void> {
    for (const replica of this.current.keys()) this.signal(replica, 'SIGCONT');
    await Promise.all(this.current.flatMap((c) => (c === undefined ? [] : [c.controller.stop()])));
  }
}

export interface MountSpec {
  name: string;
  dir: string;
  /** The KeyVaultSync the sidecar renders, as its --spec-json. */
  spec: Record<string, unknown>;
}

export class MountFleet {
  readonly #o: Pick<FleetOptions, 'leash' | 'cli' | 'endpointsFile' | 'logDir'>;
  readonly specs: MountSpec[];
  readonly current: (Instance | undefined)[] = [];
  readonly all: Instance[] = [];
  readonly #generation: number[] = [];

  constructor(o: Pick<FleetOptions, 'leash' | 'cli' | 'endpointsFile' | 'logDir'>, specs: MountSpec[]) {
    this.#o = o;
    this.specs = specs;
  }

  start(index: number): Instance {
    const spec = this.specs[index];
    if (spec === undefined) throw new RangeError(`no mount ${index}`);
    const generation = (this.#generation[index] ?? 0) + 1;
    this.#generation[index] = generation;
    const name = `${spec.name}-${generation}`;
    const process = new SupervisedProcess(name, this.#o.leash, globalThis.process.execPath, [
      this.#o.cli, 'mount',
      '--spec-json', JSON.stringify(spec.spec),
      '--dir', spec.dir,
      '--azure-endpoints', this.#o.endpointsFile,
      '--log-level', 'warn',
    ], join(this.#o.logDir, `${name}.log`));
    const instance: Instance = { name, process, killedOnPurpose: false, startedAtMs: Date.now() };
    this.current[index] = instance;
    this.all.push(instance);
    return instance;
  }

  async kill(index: number): Promise<void> {
    const instance = this.current[index];
    if (instance === undefined) return;
    instance.killedOnPurpose = true;
    this.current[index] = undefined;
    process.kill(nodePidOf(instance.process), 'SIGKILL');
    await pollUntil(() => (instance.process.running ? undefined : true), { timeoutMs: 30_000, intervalMs: 100, description: `${instance.name} to exit` });
  }

  async stop(): Promise<void> {
    await Promise.all(this.current.flatMap((m) => (m === undefined ? [] : [m.process.stop(10_000)])));
  }
}

/**
 * Runs the fault schedule: each fault begins at its time, lasts its duration and ends (a killed process
 * is restarted, a stopped one resumed, the emulator's clock reset). `endAll` ends whatever is still
 * running when the fault phase is over. A fault whose target is busy with another fault (a replica
 * already down or stopped) is skipped and counted as such.
 */
import type { EmulatorAdmin } from '../../bench/lib/emulator.ts';
import type { SupervisedProcess } from '../../src/dev/supervised-process.ts';
import { pollUntil } from '../../src/util/poll.ts';
import type { ControllerFleet, MountFleet } from './fleet.ts';
import { nodePidOf } from './fleet.ts';
import { FAULT_KINDS, type FaultKind, type ScheduledFault } from './plan.ts';

export interface FaultTargets {
  vault: string;
  admin: EmulatorAdmin;
  controllers: ControllerFleet;
  mounts: MountFleet;
  apiserver: SupervisedProcess;
  /** holderIdentity of the controller's Lease now. */
  leaseHolder: () => Promise<string | undefined>;
}

export interface FaultRecord {
  kind: FaultKind;
  /** Offset from the phase start at which it began. */
  atMs: number;
  durationMs: number;
  detail: Record<string, number | null | string>;
  outcome: 'injected' | 'skipped';
  note?: string;
}

type End = () => Promise<void>;

export class FaultRunner {
  readonly #t: FaultTargets;
  readonly #log: (line: string) => void;
  readonly records: FaultRecord[] = [];
  readonly #active = new Set<{ end: End; timer: NodeJS.Timeout }>();
  readonly #pending = new Set<Promise<void>>();
  readonly #timers: NodeJS.Timeout[] = [];
  #apiserverPaused = false;
  #phaseStartMs = 0;
  /** Every kind that applies, so a kind never injected shows as 0. */
  #kinds: FaultKind[] = [];

  constructor(targets: FaultTargets, log: (line: string) => void) {
    this.#t = targets;
    this.#log = log;
  }

  /** Schedules every fault relative to now. */
  start(schedule: readonly ScheduledFault[]): void {
    this.#phaseStartMs = Date.now();
    this.#kinds = FAULT_KINDS.filter((k) => k !== 'mount-kill' || this.#t.mounts.specs.length > 0);
    for (const f of schedule) this.#timers.push(setTimeout(() => this.#track(this.#run(f)), f.atMs));
  }

  #track(p: Promise<void>): void {
    const wrapped = p.catch((err: unknown) => this.#log(`fault error: ${err instanceof Error ? err.message : String(err)}`)).finally(() => this.#pending.delete(wrapped));
    this.#pending.add(wrapped);
  }

  async #run(f: ScheduledFault): Promise<void> {
    const record: FaultRecord = { kind: f.kind, atMs: Date.now() - this.#phaseStartMs, durationMs: f.durationMs, detail: { ...f.detail }, outcome: 'injected' };
    this.records.push(record);
    let end: End | undefined;
    try {
      end = await this.#begin(f, record);
    } catch (err) {
      record.outcome = 'skipped';
      record.note = `could not inject: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.#log(`fault ${f.kind} ${record.outcome}${record.note === undefined ? '' : ` (${record.note})`} for ${(f.durationMs / 1000).toFixed(0)} s`);
    if (end === undefined) return;
    const entry = { end, timer: setTimeout(() => this.#finish(entry), f.durationMs) };
    this.#active.add(entry);
  }

  #finish(entry: { end: End; timer: NodeJS.Timeout }): void {
    if (!this.#active.delete(entry)) return;
    clearTimeout(entry.timer);
    this.#track(entry.end());
  }

  async #begin(f: ScheduledFault, record: FaultRecord): Promise<End | undefined> {
    const { admin, vault, controllers, mounts } = this.#t;
    const skip = (note: string): undefined => {
      record.outcome = 'skipped';
      record.note = note;
      return undefined;
    };
    const durationSeconds = f.durationMs / 1000;
    switch (f.kind) {
      case 'kv-429':
      case 'kv-429-no-retry-after':
      case 'kv-5xx':
        await admin.addFault({ vault, status: f.detail.status, retryAfterSeconds: f.detail.retryAfterSeconds ?? null, durationSeconds });
        return async () => {};
      case 'kv-latency':
        await admin.addFault({ vault, latencyMs: f.detail.latencyMs, durationSeconds });
        return async () => {};
      case 'kv-drop':
        await admin.addFault({ vault, drop: true, durationSeconds });
        return async () => {};
      case 'clock-skew':
        await admin.setClockOffset(f.detail.offsetSeconds ?? 0);
        return async () => await admin.resetClock();
      case 'controller-kill': {
        // The drawn replica, or the other one when a fault is already acting on it.
        const free = (r: number): boolean => !controllers.busy.has(r) && controllers.current[r] !== undefined;
        const drawn = f.detail.replica ?? 0;
        const replica = free(drawn) ? drawn : 1 - drawn;
        if (!free(replica)) return skip('both replicas busy with other faults');
        record.detail.replica = replica;
        controllers.busy.add(replica);
        record.detail.instance = controllers.current[replica]?.name ?? '';
        await controllers.kill(replica);
        return async () => {
          try {
            await controllers.start(replica);
          } finally {
            controllers.busy.delete(replica);
          }
        };
      }
      case 'leader-stop': {
        // Right after a kill the Lease may still name the dead instance: wait for a live holder.
        const replica = await pollUntil(async () => controllers.replicaHolding(await this.#t.leaseHolder()), { timeoutMs: 30_000, intervalMs: 500, description: 'a live replica holding the Lease' }).catch(() => undefined);
        if (replica === undefined) return skip('no live replica held the lease within 30 s');
        if (controllers.busy.has(replica)) return skip('the leader is busy with another fault');
        controllers.busy.add(replica);
        record.detail.instance = controllers.current[replica]?.name ?? '';
        controllers.signal(replica, 'SIGSTOP');
        return () => {
          controllers.signal(replica, 'SIGCONT');
          controllers.busy.delete(replica);
          return Promise.resolve();
        };
      }
      case 'apiserver-pause': {
        if (this.#apiserverPaused) return skip('already paused');
        const pid = nodePidOf(this.#t.apiserver);
        this.#apiserverPaused = true;
        process.kill(pid, 'SIGSTOP');
        return () => {
          process.kill(pid, 'SIGCONT');
          this.#apiserverPaused = false;
          return Promise.resolve();
        };
      }
      case 'mount-kill': {
        const index = f.detail.mount ?? 0;
        if (mounts.current[index] === undefined) return skip('mount already down');
        record.detail.instance = mounts.current[index]?.name ?? '';
        await mounts.kill(index);
        return () => {
          mounts.start(index);
          return Promise.resolve();
        };
      }
    }
  }

  /** Cancels what has not begun, ends every running fault and waits until all are over. */
  async endAll(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    // Faults still beginning (a kill waiting for the exit) register their end when done.
    while (this.#pending.size > 0 || this.#active.size > 0) {
      for (const entry of [...this.#active]) this.#finish(entry);
      await Promise.all([...this.#pending]);
    }
    await this.#t.admin.clearFaults();
    await this.#t.admin.resetClock();
  }

  /** Injected and skipped counts per kind. */
  summary(): { kind: FaultKind; injected: number; skipped: number }[] {
    const byKind = new Map<FaultKind, { kind: FaultKind; injected: number; skipped: number }>(this.#kinds.map((kind) => [kind, { kind, injected: 0, skipped: 0 }]));
    for (const r of this.records) {
      const row = byKind.get(r.kind) ?? { kind: r.kind, injected: 0, skipped: 0 };
      row[r.outcome] += 1;
      byKind.set(r.kind, row);
    }
    return [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind));
  }
}

/**
 * Runs the fault schedule: each fault begins at its time, lasts its duration and ends (a killed process
 * is restarted, a stopped one resumed, the emulator's clock reset). `endAll` ends whatever is still
 * running when the fault phase is over. A fault whose target is busy with another fault (a replica
 * already down or stopped) is skipped and counted as such.
 */
import type { EmulatorAdmin } from '../../bench/lib/emulator.ts';
import type { RunningControlPlane } from '../../src/dev/control-plane.ts';
import type { SupervisedProcess } from '../../src/dev/supervised-process.ts';
import { pollUntil } from '../../src/util/poll.ts';
import type { ControllerFleet, MountFleet } from './fleet.ts';
import { nodePidOf } from './fleet.ts';
import { FAULT_KINDS, type FaultKind, type ScheduledFault } from './plan.ts';
import type { VaultWriter } from './vault-writer.ts';

/** The Key Vault objects faults may act on, each claimed from the rotations while a fault holds it. */
export interface VaultObjects {
  secrets: readonly string[];
  certificates: readonly string[];
  /** Takes the object from the rotations; false when a rotation or another fault holds it. */
  claim(name: string): boolean;
  release(name: string): void;
}

export interface FaultTargets {
  vault: string;
  admin: EmulatorAdmin;
  controllers: ControllerFleet;
  mounts: MountFleet;
  controlPlane: Pick<RunningControlPlane, 'processes' | 'restart'>;
  /** The run's writer, for faults on objects (disable, delete, a pending version). */
  writer: VaultWriter;
  objects: VaultObjects;
  /** holderIdentity of the controller's Lease now. */
  leaseHolder: () => Promise<string | undefined>;
  /** The kinds this run draws (a kind outside them is not listed). */
  kinds?: readonly FaultKind[];
}

/**
 * How long an end that talks to Key Vault keeps trying: other faults (a 5xx storm, an Entra outage)
 * may refuse it for a while, and the object must come back all the same.
 */
const RESTORE_TIMEOUT_MS = 180_000;

/** How long a fault on an object keeps trying to begin while other faults refuse the run's writes. */
const BEGIN_TIMEOUT_MS = 60_000;

/**
 * Repeats a Key Vault call until it succeeds, as an operator would; `signal` stops the repeats (a
 * fault still beginning when the phase ends).
 */
async function insist(what: string, call: () => Promise<unknown>, timeoutMs = RESTORE_TIMEOUT_MS, signal?: AbortSignal): Promise<void> {
  await pollUntil(async () => (await call(), true), { timeoutMs, intervalMs: 1000, description: what, ...(signal === undefined ? {} : { signal }) });
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
  /** A pause or restart of the control plane is running (they are never combined). */
  #controlPlaneBusy = false;
  /** The emulator clock's offset now (a clock-skew fault). */
  #clockOffsetSeconds = 0;
  /** Creates of pending versions, one at a time (the emulator's pending duration is one setting). */
  #creating: Promise<unknown> = Promise.resolve();
  #phaseStartMs = 0;
  /** Every kind that applies, so a kind never injected shows as 0. */
  #kinds: FaultKind[] = [];
  /**
   * Aborted when the fault phase ends: no fault begins after it, a begin still retrying gives up (undoing
   * what it took), and one whose last step landed anyway is ended at once.
   */
  readonly #phase = new AbortController();

  constructor(targets: FaultTargets, log: (line: string) => void) {
    this.#t = targets;
    this.#log = log;
  }

  /** Schedules every fault relative to now. */
  start(schedule: readonly ScheduledFault[]): void {
    this.#phaseStartMs = Date.now();
    this.#kinds = (this.#t.kinds ?? FAULT_KINDS).filter((k) => k !== 'mount-kill' || this.#t.mounts.specs.length > 0);
    for (const f of schedule) this.#timers.push(setTimeout(() => this.#track(this.#run(f)), f.atMs));
  }

  #track(p: Promise<void>): void {
    const wrapped = p.catch((err: unknown) => this.#log(`fault error: ${err instanceof Error ? err.message : String(err)}`)).finally(() => this.#pending.delete(wrapped));
    this.#pending.add(wrapped);
  }

  async #run(f: ScheduledFault): Promise<void> {
    const record: FaultRecord = { kind: f.kind, atMs: Date.now() - this.#phaseStartMs, durationMs: f.durationMs, detail: { ...f.detail }, outcome: 'injected' };
    this.records.push(record);
    const phase = this.#phase.signal;
    let end: End | undefined;
    if (phase.aborted) {
      record.outcome = 'skipped';
      record.note = 'the fault phase was over';
    } else {
      try {
        end = await this.#begin(f, record, phase);
      } catch (err) {
        record.outcome = 'skipped';
        // The first line only: Azure's errors carry trace ids and timestamps on the next ones.
        record.note = phase.aborted ? 'the fault phase ended while it was beginning' : `could not inject: ${(err instanceof Error ? err.message : String(err)).split(/\r?\n/)[0] ?? ''}`;
      }
    }
    if (end !== undefined && phase.aborted) record.note = 'its last step landed as the fault phase ended; ended at once';
    this.#log(`fault ${f.kind} ${record.outcome}${record.note === undefined ? '' : ` (${record.note})`} for ${(f.durationMs / 1000).toFixed(0)} s`);
    if (end === undefined) return;
    const entry = { end, timer: setTimeout(() => this.#finish(entry), phase.aborted ? 0 : f.durationMs) };
    this.#active.add(entry);
    if (phase.aborted) this.#finish(entry);
  }

  #finish(entry: { end: End; timer: NodeJS.Timeout }): void {
    if (!this.#active.delete(entry)) return;
    clearTimeout(entry.timer);
    this.#track(entry.end());
  }

  async #begin(f: ScheduledFault, record: FaultRecord, phase: AbortSignal): Promise<End | undefined> {
    const { admin, vault, controllers, mounts, objects, writer } = this.#t;
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
        this.#clockOffsetSeconds = f.detail.offsetSeconds ?? 0;
        await admin.setClockOffset(this.#clockOffsetSeconds);
        return async () => {
          await admin.resetClock();
          this.#clockOffsetSeconds = 0;
        };
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
            // As a kubelet restarts a container that exits: a controller started while the apiserver
            // cannot answer (a restart of it or of etcd) ends at once, and is started again.
            let attempts = 0;
            await pollUntil(async () => ((attempts += 1), await controllers.start(replica)), { timeoutMs: 120_000, intervalMs: 2000, description: `replica ${replica} started` });
            record.detail.startAttempts = attempts;
          } finally {
            controllers.busy.delete(replica);
          }
        };
      }
      case 'leader-stop': {
        // Right after a kill the Lease may still name the dead instance: wait for a live holder.
        const replica = await pollUntil(async () => controllers.replicaHolding(await this.#t.leaseHolder()), { timeoutMs: 30_000, intervalMs: 500, description: 'a live replica holding the Lease', signal: phase }).catch(() => undefined);
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
        if (this.#controlPlaneBusy) return skip('the control plane is paused or restarting');
        const pid = nodePidOf(this.#process('kube-apiserver'));
        this.#controlPlaneBusy = true;
        process.kill(pid, 'SIGSTOP');
        return () => {
          process.kill(pid, 'SIGCONT');
          this.#controlPlaneBusy = false;
          return Promise.resolve();
        };
      }
      case 'apiserver-restart':
      case 'etcd-restart': {
        if (this.#controlPlaneBusy) return skip('the control plane is paused or restarting');
        this.#controlPlaneBusy = true;
        const started = Date.now();
        try {
          // Same flags, ports and data; resolves once it (and, after etcd, the apiserver) is ready again.
          await this.#t.controlPlane.restart(f.kind === 'etcd-restart' ? 'etcd' : 'kube-apiserver');
        } finally {
          this.#controlPlaneBusy = false;
        }
        record.detail.readyAgainMs = Date.now() - started;
        return async () => {};
      }
      case 'entra-outage':
      case 'imds-outage':
        // Every token request of its kind answers 503 (the emulator's token faults); Key Vault stays up.
        await admin.addFault({ operation: f.kind === 'entra-outage' ? 'token' : 'imdsToken', status: 503, retryAfterSeconds: null, durationSeconds });
        return async () => {};
      case 'secret-disabled':
      case 'secret-deleted': {
        const name = this.#claim(objects.secrets, f.detail.secret ?? 0);
        if (name === undefined) return skip('every secret is busy');
        record.detail.object = name;
        if (f.kind === 'secret-deleted') {
          try {
            await insist(`secret ${name} deleted`, () => writer.deleteSecret(name), BEGIN_TIMEOUT_MS, phase);
          } catch (err) {
            // Whatever was taken is undone before the secret goes back to the rotations.
            await insist(`secret ${name} present`, () => writer.recoverSecret(name)).catch(() => undefined);
            objects.release(name);
            throw err;
          }
          return async () => {
            await insist(`secret ${name} recovered`, () => writer.recoverSecret(name)).finally(() => objects.release(name));
          };
        }
        let version: string;
        try {
          version = await pollUntil(() => writer.currentSecretVersion(name), { timeoutMs: BEGIN_TIMEOUT_MS, intervalMs: 1000, description: `secret ${name}'s version`, signal: phase });
        } catch (err) {
          objects.release(name);
          throw err;
        }
        const enable = async (): Promise<void> => {
          await insist(`secret ${name} enabled`, () => writer.setSecretEnabled(name, version, true)).finally(() => objects.release(name));
        };
        try {
          await insist(`secret ${name} disabled`, () => writer.setSecretEnabled(name, version, false), BEGIN_TIMEOUT_MS, phase);
        } catch (err) {
          await enable().catch(() => undefined);
          throw err;
        }
        return enable;
      }
      case 'certificate-pending': {
        // The pending phase ends on the emulator clock: created while it runs ahead, the version would
        // complete only that much later once the clock is reset. A skew lasts at most 30 s.
        await pollUntil(() => (this.#clockOffsetSeconds <= 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 250, description: 'the emulator clock not ahead', signal: phase });
        const name = this.#claim(objects.certificates, f.detail.certificate ?? 0);
        if (name === undefined) return skip('every certificate is busy');
        record.detail.object = name;
        const complete = async (): Promise<void> => {
          try {
            await insist(`certificate ${name}'s new version completed`, () => writer.completeCertificate(name));
          } finally {
            objects.release(name);
          }
        };
        const create = this.#creating.then(async () => {
          // Queued behind another create: the phase may have ended meanwhile.
          phase.throwIfAborted();
          await admin.setCertificatePending(durationSeconds);
          await insist(`certificate ${name}'s new version requested`, () => writer.beginCertificate(name), BEGIN_TIMEOUT_MS, phase);
        });
        this.#creating = create.catch(() => undefined);
        try {
          await create;
        } catch (err) {
          // The create may have been taken before its answer failed: settled either way.
          await complete();
          throw err;
        }
        return complete;
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

  #process(name: string): SupervisedProcess {
    const p = this.#t.controlPlane.processes.find((x) => x.name === name);
    if (p === undefined) throw new Error(`the control plane has no ${name} process`);
    return p;
  }

  /** The object at `index` (wrapped), or the next one not busy; claimed. */
  #claim(names: readonly string[], index: number): string | undefined {
    for (let i = 0; i < names.length; i++) {
      const name = names[(index + i) % names.length];
      if (name !== undefined && this.#t.objects.claim(name)) return name;
    }
    return undefined;
  }

  /** Cancels what has not begun, ends every running fault and waits until all are over. */
  async endAll(): Promise<void> {
    // First, before anything awaits: from here on no fault begins, and those still beginning give up.
    this.#phase.abort();
    for (const t of this.#timers) clearTimeout(t);
    // Key Vault and the token endpoints answer again first, so the ends that restore objects succeed.
    await this.#t.admin.clearFaults();
    await this.#t.admin.resetClock();
    // Faults still beginning (a kill waiting for the exit) end themselves once their begin is done.
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

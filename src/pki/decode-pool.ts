/**
 * Certificate decoding off the event loop: a small pool of worker threads (decode-worker.ts) that build
 * TLS bundles from Key Vault secret values.
 *
 * A PKCS#12 file chooses its own key-derivation cost. limits.ts bounds the iteration counts (about a
 * second of CPU at worst), but even that second, run on the controller's event loop, would delay lease
 * renewal, admission reviews and health probes for every tenant. In a worker it delays only other
 * decodes, and those are bounded too:
 * - a per-decode time limit: past it the worker is terminated (the only way to stop a synchronous key
 *   derivation) and the decode fails with `TooExpensive`; a fresh worker takes the next job;
 * - a memory limit per worker: an input that needs more fails the same way;
 * - a bounded queue, served fairly across owners (namespaces): the owner served longest ago goes next,
 *   so one tenant's many certificates wait behind each other, not in front of everyone else's; past
 *   the bound a decode is refused at once (`DecoderBusyError`, worth retrying later).
 *
 * The worker is the compiled `decode-worker.js` beside this file in a build, and the TypeScript source
 * when running from source (Node strips the types in workers too).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BundleOptions, TlsBundle } from './bundle.ts';
import { PkiError, type PkiErrorReason } from './errors.ts';

/** A job as posted to the worker. */
export interface DecodeJob {
  id: number;
  value: string;
  contentType: string | undefined;
  options: BundleOptions;
}

/** The worker's answer to one job, or its word that it has loaded (its first message). */
export type DecodeReply = { id: number; ok: true; bundle: TlsBundle } | { id: number; ok: false; reason: PkiErrorReason; message: string } | { ready: true };

export interface DecodePoolOptions {
  /** Worker threads; default 1 on up to 2 cores (one stays the event loop's), else 2. Clamped to 1–2. */
  size?: number;
  /** Longest one decode may run in a worker; default 10,000 ms (the iteration limits allow 1–3 s of CPU). */
  timeLimitMs?: number;
  /** Most decodes waiting, over all owners; default 256. */
  maxQueued?: number;
  /** Most decodes waiting for one owner; default 32. */
  maxQueuedPerOwner?: number;
  /** Heap limit of a worker; default 128 MiB. */
  maxWorkerHeapMb?: number;
  /** The worker module (tests of a build); default decode-worker beside this file. */
  workerUrl?: URL;
}

export const DEFAULT_DECODE_TIME_LIMIT_MS = 10_000;

/** What the pool did since it started (tests and metrics). */
export interface DecodePoolStats {
  /** Decodes a worker finished (successful or not). */
  decoded: number;
  /** Decodes stopped at the time or memory limit (their worker was replaced). */
  stopped: number;
  /** Decodes refused because the queue was full. */
  refused: number;
  /** Worker threads started. */
  workersStarted: number;
}

/**
 * A decode refused because too many are waiting, or whose worker failed for a reason other than the
 * input: not a property of the certificate, so worth retrying.
 */
export class DecoderBusyError extends PkiError {
  constructor() {
    super('TooExpensive', 'the certificate decoder is busy or restarting; the decode is retried later');
  }
}

/** A decode stopped at the pool's time or memory limit. */
export class DecodeStoppedError extends PkiError {
  constructor(message: string) {
    super('TooExpensive', message);
  }
}

interface Pending {
  job: DecodeJob;
  resolve: (bundle: TlsBundle) => void;
  reject: (err: PkiError) => void;
}

interface Slot {
  worker: Worker | undefined;
  /** The worker has loaded: a job's time limit runs from then (loading is not the input's cost). */
  ready: boolean;
  running: (Pending & { timer: NodeJS.Timeout | undefined }) | undefined;
}

/** Longest a worker may take to load before its job fails as busy. */
const WORKER_START_LIMIT_MS = 60_000;

const defaultWorkerUrl = (): URL => new URL(import.meta.url.endsWith('.ts') ? './decode-worker.ts' : './decode-worker.js', import.meta.url);

export class DecodePool {
  readonly #timeLimitMs: number;
  readonly #maxQueued: number;
  readonly #maxQueuedPerOwner: number;
  readonly #maxWorkerHeapMb: number;
  readonly #workerUrl: URL;
  readonly #slots: Slot[];
  /** Waiting jobs per owner. */
  readonly #queues = new Map<string, Pending[]>();
  /** When each owner was last served (a dispatch count): the owner served longest ago goes next. */
  readonly #lastServed = new Map<string, number>();
  #dispatched = 0;
  #queued = 0;
  #nextId = 0;
  #closed = false;
  readonly #stats: DecodePoolStats = { decoded: 0, stopped: 0, refused: 0, workersStarted: 0 };

  constructor(opts: DecodePoolOptions = {}) {
    const size = Math.min(2, Math.max(1, Math.floor(opts.size ?? (availableParallelism() > 2 ? 2 : 1))));
    this.#timeLimitMs = Math.max(1, opts.timeLimitMs ?? DEFAULT_DECODE_TIME_LIMIT_MS);
    this.#maxQueued = Math.max(1, opts.maxQueued ?? 256);
    this.#maxQueuedPerOwner = Math.max(1, opts.maxQueuedPerOwner ?? 32);
    this.#maxWorkerHeapMb = Math.max(16, opts.maxWorkerHeapMb ?? 128);
    this.#workerUrl = opts.workerUrl ?? defaultWorkerUrl();
    this.#slots = Array.from({ length: size }, () => ({ worker: undefined, ready: false, running: undefined }));
  }

  get stats(): Readonly<DecodePoolStats> {
    return { ...this.#stats };
  }

  /** Decodes waiting for a worker. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Builds a bundle as `bundleFromKeyVaultSecret` does, in a worker thread.
   * @param owner who the decode is for (a namespace): owners are served in turn.
   * @throws PkiError as bundleFromKeyVaultSecret; `TooExpensive` past the time or memory limit
   *   ({@link DecodeStoppedError}) or when the queue is full ({@link DecoderBusyError}).
   */
  decode(value: string, contentType: string | undefined, options: BundleOptions = {}, owner = ''): Promise<TlsBundle> {
    if (this.#closed) return Promise.reject(new DecoderBusyError());
    const queue = this.#queues.get(owner) ?? [];
    if (this.#queued >= this.#maxQueued || queue.length >= this.#maxQueuedPerOwner) {
      this.#stats.refused++;
      return Promise.reject(new DecoderBusyError());
    }
    return new Promise<TlsBundle>((resolve, reject) => {
      queue.push({ job: { id: ++this.#nextId, value, contentType, options }, resolve, reject });
      if (!this.#queues.has(owner)) this.#queues.set(owner, queue);
      this.#queued++;
      this.#dispatch();
    });
  }

  /** Stops the workers; waiting and running decodes fail with DecoderBusyError. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#queues.values()) for (const p of queue) p.reject(new DecoderBusyError());
    this.#queues.clear();
    this.#queued = 0;
    await Promise.all(
      this.#slots.map(async (slot) => {
        const { worker, running } = slot;
        slot.worker = undefined;
        slot.running = undefined;
        if (running !== undefined) {
          clearTimeout(running.timer);
          running.reject(new DecoderBusyError());
        }
        await worker?.terminate();
      }),
    );
  }

  /** Hands waiting jobs to idle workers, taking owners in turn. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.running !== undefined || this.#closed) continue;
      const next = this.#takeNext();
      if (next === undefined) return;
      const worker = slot.worker ?? this.#startWorker(slot);
      slot.running = { ...next, timer: undefined };
      this.#armTimer(slot);
      worker.postMessage(next.job);
    }
  }

  /** The running job's time limit once the worker has loaded; until then the (longer) start limit. */
  #armTimer(slot: Slot): void {
    const running = slot.running;
    if (running === undefined) return;
    clearTimeout(running.timer);
    running.timer = slot.ready
      ? setTimeout(() => this.#stop(slot, new DecodeStoppedError(`decoding took longer than ${this.#timeLimitMs} ms; the certificate is refused as too expensive`)), this.#timeLimitMs)
      : setTimeout(() => this.#stop(slot, new DecoderBusyError()), WORKER_START_LIMIT_MS);
  }

  #takeNext(): Pending | undefined {
    let owner: string | undefined;
    for (const o of this.#queues.keys()) {
      if (owner === undefined || (this.#lastServed.get(o) ?? -1) < (this.#lastServed.get(owner) ?? -1)) owner = o;
    }
    if (owner === undefined) return undefined;
    const queue = this.#queues.get(owner) ?? [];
    const next = queue.shift();
    if (queue.length === 0) this.#queues.delete(owner);
    this.#lastServed.delete(owner);
    this.#lastServed.set(owner, ++this.#dispatched);
    // Owners with nothing waiting are forgotten, oldest first, past a bound.
    for (const o of this.#lastServed.keys()) {
      if (this.#lastServed.size <= 1024) break;
      if (!this.#queues.has(o)) this.#lastServed.delete(o);
    }
    if (next !== undefined) this.#queued--;
    return next;
  }

  #startWorker(slot: Slot): Worker {
    const worker = new Worker(this.#workerUrl, { resourceLimits: { maxOldGenerationSizeMb: this.#maxWorkerHeapMb, maxYoungGenerationSizeMb: 16 } });
    this.#stats.workersStarted++;
    // An idle worker must not keep the process alive; a running job's timer does.
    worker.unref();
    worker.on('message', (reply: DecodeReply) => {
      if ('ready' in reply) {
        if (slot.worker !== worker) return;
        slot.ready = true;
        this.#armTimer(slot);
        return;
      }
      const running = slot.running;
      if (slot.worker !== worker || running === undefined || running.job.id !== reply.id) return;
      clearTimeout(running.timer);
      slot.running = undefined;
      this.#stats.decoded++;
      if (reply.ok) running.resolve(reply.bundle);
      else running.reject(new PkiError(reply.reason, reply.message));
      this.#dispatch();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (slot.worker !== worker) return;
      // Out of memory is the input's doing; any other failure is the decoder's (never the input's text).
      const outOfMemory = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.#stop(slot, outOfMemory ? new DecodeStoppedError(`decoding needed more than ${this.#maxWorkerHeapMb} MiB of memory; the certificate is refused as too expensive`) : new DecoderBusyError(), false);
    });
    worker.on('exit', () => {
      if (slot.worker === worker) this.#stop(slot, new DecoderBusyError(), false);
    });
    slot.worker = worker;
    slot.ready = false;
    return worker;
  }

  /** Ends the slot's running job with `error` and drops its worker (replaced for the next job). */
  #stop(slot: Slot, error: PkiError, terminate = true): void {
    const { worker, running } = slot;
    slot.worker = undefined;
    slot.ready = false;
    slot.running = undefined;
    if (terminate) void worker?.terminate();
    if (running !== undefined) {
      clearTimeout(running.timer);
      if (error instanceof DecodeStoppedError) this.#stats.stopped++;
      running.reject(error);
    }
    this.#dispatch();
  }
}

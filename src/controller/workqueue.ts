/**
 * One keyed work queue, in the manner of client-go's rate-limited delaying queue:
 * - dedup: a key added while queued is queued once; a key added while being processed is processed
 *   once more after the current run finishes (never twice at the same time);
 * - bounded concurrency: at most `concurrency` handlers run at once;
 * - per-key exponential retry after a failure (`baseDelayMs · 2^(failures-1)`, capped, ± 20 % jitter so
 *   KeyVaultSyncs that failed together do not retry in lockstep), reset by a success; a run may cap its
 *   key's backoff lower (a KeyVaultSync's refresh interval, see {@link retryDelayMs});
 * - delayed requeue (`addAfter`): the earliest pending deadline for a key wins;
 * - two priorities: `high` keys (first sync, spec change, force-sync, push events, changes the change
 *   detector reported, drift repair) run before `normal` ones (periodic refresh), FIFO within a
 *   priority, so thousands of refreshes never delay a new KeyVaultSync or a rotation (ESO's starvation, external-secrets#3258, #4180);
 * - a bulkhead per group (the vault a KeyVaultSync reads): at most `maxPerGroup` keys of one group run
 *   at once; the group's other keys wait aside, in order, while keys of other groups take the free
 *   workers. One vault that holds every request open can never take all the workers. A run that is
 *   done with its vault (the rest is apiserver writes) leaves its group early (`RunControl`).
 */

export type QueuePriority = 'high' | 'normal';

export interface QueueResult {
  /** Process the key again after this delay (a refresh). */
  requeueAfterMs?: number | undefined;
  /**
   * The run failed and should be retried with per-key backoff; the delay is at least `retryAfterMs`
   * (e.g. a vault's Retry-After), and the backoff alone at most `maxDelayMs` (e.g. the refresh interval).
   */
  retry?: { retryAfterMs?: number | undefined; maxDelayMs?: number | undefined } | undefined;
}

/** What a handler may tell the queue while it runs. */
export interface RunControl {
  /**
   * The run is done with what its group stands for (the vault's requests): the group's slot is free
   * for its next key from now on, while this run keeps its worker (the total concurrency still holds).
   */
  leaveGroup(): void;
}

export interface WorkQueueOptions {
  concurrency: number;
  handler: (key: string, run: RunControl) => Promise<QueueResult | undefined>;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called when a handler throws (the key is then retried with backoff). */
  onError?: (key: string, err: unknown) => void;
  /** Told how long each key waited between `add` and its handler starting. */
  onWaited?: (seconds: number) => void;
  /** The group (e.g. the vault) of a key when it is about to run; undefined = no group, no limit. */
  groupOf?: (key: string) => string | undefined;
  /** Keys of one group running at once; default: all of `concurrency`. */
  maxPerGroup?: number;
  /** [0, 1) source of the retry jitter; default Math.random. */
  random?: () => number;
}

export class WorkQueue {
  readonly #opts: Required<Omit<WorkQueueOptions, 'onError' | 'onWaited' | 'groupOf'>> & Pick<WorkQueueOptions, 'onError' | 'onWaited' | 'groupOf'>;
  /** Keys waiting to run, in order, per priority. */
  readonly #queues: Record<QueuePriority, string[]> = { high: [], normal: [] };
  /** The priority of each dirty key (the highest it was added with). */
  readonly #priority = new Map<string, QueuePriority>();
  /** The priority of each running key: a failed run is retried with it. */
  readonly #runPriority = new Map<string, QueuePriority>();
  /** Keys in #queues or waiting to be re-queued once their current run finishes. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  /** When each dirty key was added (performance.now()), for the wait time. */
  readonly #addedAt = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout; priority: QueuePriority }>();
  readonly #inFlight = new Set<Promise<void>>();
  /** The group of each running key, and how many keys of each group run. */
  readonly #runGroup = new Map<string, string>();
  readonly #groupRunning = new Map<string, number>();
  /**
   * Keys set aside because their group was full, in order, per group and priority: one goes back to the
   * front of its queue per slot the group frees, so a long line of one vault's keys is not walked on
   * every run (with one vault, every waiting key is of the full group).
   */
  readonly #aside = new Map<string, Record<QueuePriority, string[]>>();
  /** The group each key set aside waits for. */
  readonly #asideIn = new Map<string, string>();
  #shuttingDown = false;
  #started = false;

  constructor(opts: WorkQueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    if (opts.maxPerGroup !== undefined && (!Number.isInteger(opts.maxPerGroup) || opts.maxPerGroup < 1)) throw new RangeError('maxPerGroup must be a positive integer');
    this.#opts = { baseDelayMs: 1000, maxDelayMs: 5 * 60_000, maxPerGroup: opts.concurrency, random: Math.random, ...opts };
  }

  /** Begins dispatching (keys added before are kept). */
  start(): void {
    this.#started = true;
    this.#pump();
  }

  /**
   * Queues `key` now (deduplicated) with `priority` (default `normal`); a key waiting as `normal` that
   * is added as `high` moves to the high queue. Ignored after shutdown.
   */
  add(key: string, priority: QueuePriority = 'normal'): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(key)) {
      if (priority === 'high' && this.#priority.get(key) === 'normal') {
        this.#priority.set(key, 'high');
        const group = this.#asideIn.get(key);
        const from = group === undefined ? this.#queues : this.#aside.get(group);
        const i = from?.normal.indexOf(key) ?? -1;
        if (from !== undefined && i >= 0) {
          from.normal.splice(i, 1);
          from.high.push(key);
        }
      }
      return;
    }
    this.#dirty.add(key);
    this.#priority.set(key, priority);
    this.#addedAt.set(key, performance.now());
    if (!this.#processing.has(key)) this.#queues[priority].push(key);
    this.#pump();
  }

  /** Queues `key` after `delayMs`; an earlier pending deadline for the same key is kept (at the higher priority of both). */
  addAfter(key: string, delayMs: number, priority: QueuePriority = 'normal'): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key, priority);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.#timers.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) {
        if (priority === 'high') pending.priority = 'high';
        return;
      }
      clearTimeout(pending.timer);
      if (pending.priority === 'high') priority = 'high';
    }
    const entry = { at, priority, timer: setTimeout(() => {
      this.#timers.delete(key);
      this.add(key, entry.priority);
    }, delayMs) };
    entry.timer.unref();
    this.#timers.set(key, entry);
  }

  /**
   * Queues `key` after its per-key backoff (at least `minDelayMs`; the backoff capped by `capMs` when
   * given, see {@link retryDelayMs}) and counts a failure; `priority` defaults to that of the key's last run.
   */
  addRateLimited(key: string, minDelayMs = 0, priority?: QueuePriority, capMs?: number): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const delay = retryDelayMs(failures, { baseDelayMs: this.#opts.baseDelayMs, maxDelayMs: this.#opts.maxDelayMs, capMs, minDelayMs, random: this.#opts.random });
    this.addAfter(key, delay, priority ?? this.#runPriority.get(key) ?? 'normal');
    return delay;
  }

  /** Clears the failure count of `key` (after a success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Pending delayed keys are dropped too (e.g. a deleted KeyVaultSync). */
  cancel(key: string): void {
    const pending = this.#timers.get(key);
    if (pending !== undefined) clearTimeout(pending.timer);
    this.#timers.delete(key);
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Number of keys waiting (not delayed, not running), those waiting for their group's slot included. */
  get length(): number {
    return this.#queues.high.length + this.#queues.normal.length + this.#asideIn.size;
  }

  /** Keys of `group` running now. */
  runningIn(group: string): number {
    return this.#groupRunning.get(group) ?? 0;
  }

  get running(): number {
    return this.#processing.size;
  }

  /** Stops accepting keys, drops delayed ones and resolves when in-flight handlers have finished. */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queues.high.length = 0;
    this.#queues.normal.length = 0;
    this.#aside.clear();
    this.#asideIn.clear();
    this.#dirty.clear();
    this.#priority.clear();
    this.#addedAt.clear();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * The next key whose group has a free slot; keys of full groups are set aside on the way. With the
   * queues empty, keys set aside for groups with a free slot are taken back (a key returned by
   * {@link #release} may have run in another group since its spec changed, or not at all).
   */
  #next(): { key: string; group: string | undefined } | undefined {
    for (;;) {
      const key = this.#queues.high.shift() ?? this.#queues.normal.shift();
      if (key === undefined) {
        let returned = false;
        for (const group of [...this.#aside.keys()]) returned = this.#takeBack(group) || returned;
        if (returned) continue;
        return undefined;
      }
      const group = this.#opts.groupOf?.(key);
      if (group === undefined || this.runningIn(group) < this.#opts.maxPerGroup) return { key, group };
      let aside = this.#aside.get(group);
      if (aside === undefined) this.#aside.set(group, (aside = { high: [], normal: [] }));
      aside[this.#priority.get(key) ?? 'normal'].push(key);
      this.#asideIn.set(key, group);
    }
  }

  /** A run of `group` ended: keys set aside for it go back to the front of their queues, one per free slot. */
  #release(group: string): void {
    const left = (this.#groupRunning.get(group) ?? 1) - 1;
    if (left > 0) this.#groupRunning.set(group, left);
    else this.#groupRunning.delete(group);
    this.#takeBack(group);
  }

  /** Puts up to the group's free slots of its keys set aside (high first, in order) back at the front of their queues. */
  #takeBack(group: string): boolean {
    const aside = this.#aside.get(group);
    if (aside === undefined) return false;
    const back: string[] = [];
    for (let free = this.#opts.maxPerGroup - this.runningIn(group); free > 0; free--) {
      const key = aside.high.shift() ?? aside.normal.shift();
      if (key === undefined) break;
      back.push(key);
    }
    if (aside.high.length === 0 && aside.normal.length === 0) this.#aside.delete(group);
    for (const key of back.reverse()) {
      this.#asideIn.delete(key);
      this.#queues[this.#priority.get(key) ?? 'normal'].unshift(key);
    }
    return back.length > 0;
  }

  #pump(): void {
    if (!this.#started || this.#shuttingDown) return;
    while (this.#processing.size < this.#opts.concurrency) {
      const next = this.#next();
      if (next === undefined) break;
      const { key, group } = next;
      if (group !== undefined) {
        this.#runGroup.set(key, group);
        this.#groupRunning.set(group, this.runningIn(group) + 1);
      }
      this.#dirty.delete(key);
      this.#runPriority.set(key, this.#priority.get(key) ?? 'normal');
      this.#priority.delete(key);
      const addedAt = this.#addedAt.get(key);
      this.#addedAt.delete(key);
      if (addedAt !== undefined) this.#opts.onWaited?.((performance.now() - addedAt) / 1000);
      this.#processing.add(key);
      const run = this.#run(key).finally(() => {
        this.#inFlight.delete(run);
        this.#processing.delete(key);
        this.#runPriority.delete(key);
        const ranIn = this.#runGroup.get(key);
        this.#runGroup.delete(key);
        if (ranIn !== undefined) this.#release(ranIn);
        // Added again while it ran: run once more.
        if (this.#dirty.has(key) && !this.#shuttingDown) this.#queues[this.#priority.get(key) ?? 'normal'].push(key);
        this.#pump();
      });
      this.#inFlight.add(run);
    }
  }

  /** The running `key` frees its group's slot early (see {@link RunControl.leaveGroup}); idempotent. */
  #leaveGroup(key: string): void {
    const group = this.#runGroup.get(key);
    if (group === undefined || !this.#processing.has(key)) return;
    this.#runGroup.delete(key);
    this.#release(group);
    this.#pump();
  }

  async #run(key: string): Promise<void> {
    let result: QueueResult | undefined;
    try {
      result = await this.#opts.handler(key, { leaveGroup: () => this.#leaveGroup(key) });
    } catch (err) {
      this.#opts.onError?.(key, err);
      this.addRateLimited(key);
      return;
    }
    if (result?.retry !== undefined) {
      this.addRateLimited(key, result.retry.retryAfterMs ?? 0, undefined, result.retry.maxDelayMs);
      return;
    }
    this.forget(key);
    if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
  }
}

/** Spread of a retry's backoff: ± 20 %. */
const RETRY_JITTER = 0.2;

/**
 * The delay before retry number `failures` (1-based): `baseDelayMs · 2^(failures-1)` up to
 * `maxDelayMs`, ± 20 % jitter. A `capMs` (a KeyVaultSync's refresh interval) bounds it: a backoff whose
 * spread would pass the cap is drawn from [0.8 · cap, cap] instead, so a failed sync is tried again
 * within one interval of its dependency's recovery (no later than its next refresh would have come),
 * still spread so that KeyVaultSyncs failing together do not retry in lockstep. `minDelayMs` (a
 * Retry-After, a breaker's cooldown) wins over both.
 */
export function retryDelayMs(failures: number, o: { baseDelayMs: number; maxDelayMs: number; capMs?: number | undefined; minDelayMs?: number | undefined; random: () => number }): number {
  const backoff = Math.min(o.baseDelayMs * 2 ** (Math.max(1, failures) - 1), o.maxDelayMs);
  const cap = o.capMs !== undefined && o.capMs > 0 ? o.capMs : Number.POSITIVE_INFINITY;
  const delay = backoff * (1 + RETRY_JITTER) > cap ? Math.round(cap * (1 - RETRY_JITTER * o.random())) : jittered(backoff, RETRY_JITTER, o.random);
  return Math.max(delay, o.minDelayMs ?? 0);
}

/** `ms` ± `fraction` (default 10 %), so many KeyVaultSyncs with one interval do not refresh in lockstep. */
export function jittered(ms: number, fraction = 0.1, random: () => number = Math.random): number {
  return Math.round(ms * (1 - fraction + 2 * fraction * random()));
}

/**
 * The request budget of one vault: a token bucket that never grants more than `requestsPer10s`
 * requests in any 10-second span, a vault-wide pause after a 429 (Retry-After, then jittered
 * exponential backoff for repeated 429s), and priority among waiting requests (`high` first, FIFO
 * within a priority). Pure timing logic with an injectable clock; the SDK policy is vault-guard.ts.
 */

export type RequestPriority = 'high' | 'normal';

export interface VaultLimiterOptions {
  /** Requests allowed in any 10 s span (≥ 1). */
  requestsPer10s: number;
  /** Backoff of repeated 429s: base (default 1 s) doubling per repeat, capped (default 60 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  now?: () => number;
  random?: () => number;
}

/** The part of an abort signal the limiter uses (the SDK's requests carry an `AbortSignalLike`). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

const abortError = (): Error => Object.assign(new Error('the request was aborted while waiting for the vault\'s request budget'), { name: 'AbortError' });

interface Waiter {
  priority: RequestPriority;
  resolve: (grantedAt: number) => void;
  reject: (err: unknown) => void;
  signal: AbortSignalLike | undefined;
  onAbort: (() => void) | undefined;
}

/** Burst and refill of a bucket that grants at most `n` in any 10 s span: burst + rate · 10 s = n. */
export function bucketShape(n: number): { burst: number; perMs: number } {
  const burst = Math.max(1, Math.floor(n / 10));
  return { burst, perMs: Math.max(1, n - burst) / 10_000 };
}

/**
 * The delay after the `repeat`-th 429 in a row (1-based): never less than the server's Retry-After;
 * from the second repeat on, "equal jitter" backoff: uniform in [b/2, b] with b = base · 2^(repeat-1), capped.
 */
export function throttleDelayMs(repeat: number, retryAfterMs: number | undefined, opts: { baseMs: number; maxMs: number; random: () => number }): number {
  const floor = retryAfterMs ?? opts.baseMs;
  if (repeat <= 1) return floor;
  const b = Math.min(opts.maxMs, opts.baseMs * 2 ** (repeat - 1));
  return Math.max(floor, Math.round(b / 2 + (opts.random() * b) / 2));
}

export class VaultLimiter {
  #burst: number;
  #perMs: number;
  #tokens: number;
  /** Tokens were last counted at this time (never before the end of a pause). */
  #countedAt: number;
  #pausedUntil = 0;
  /** When the current throttle episode started: 429s of requests sent before it do not count as repeats. */
  #episodeStartedAt = Number.NEGATIVE_INFINITY;
  #repeats = 0;
  readonly #waiting: Record<RequestPriority, Waiter[]> = { high: [], normal: [] };
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #backoff: { baseMs: number; maxMs: number };

  constructor(opts: VaultLimiterOptions) {
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#backoff = { baseMs: opts.backoffBaseMs ?? 1000, maxMs: opts.backoffMaxMs ?? 60_000 };
    ({ burst: this.#burst, perMs: this.#perMs } = bucketShape(checkRequestsPer10s(opts.requestsPer10s)));
    this.#tokens = this.#burst;
    this.#countedAt = this.#now();
  }

  /** Changes the rate; tokens above the new burst are dropped. */
  setRate(requestsPer10s: number): void {
    this.#refill();
    ({ burst: this.#burst, perMs: this.#perMs } = bucketShape(checkRequestsPer10s(requestsPer10s)));
    this.#tokens = Math.min(this.#tokens, this.#burst);
    this.#schedule();
  }

  /** Milliseconds until the vault-wide pause ends (0 when not paused). */
  pausedForMs(): number {
    return Math.max(0, this.#pausedUntil - this.#now());
  }

  /** Requests waiting for a token. */
  get waiting(): number {
    return this.#waiting.high.length + this.#waiting.normal.length;
  }

  /**
   * Resolves with the grant time once a token is free and no pause is in force; `high` waiters are
   * served before `normal` ones. Rejects with an AbortError when `signal` aborts.
   */
  acquire(priority: RequestPriority = 'normal', signal?: AbortSignalLike): Promise<number> {
    if (signal?.aborted === true) return Promise.reject(abortError());
    this.#refill();
    const now = this.#now();
    if (this.waiting === 0 && now >= this.#pausedUntil && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve(now);
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { priority, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const list = this.#waiting[priority];
          const i = list.indexOf(waiter);
          if (i >= 0) list.splice(i, 1);
          reject(abortError());
          this.#schedule();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiting[priority].push(waiter);
      this.#schedule();
    });
  }

  /**
   * The vault answered 429 (or 503 with Retry-After) to a request granted at `sentAt`: every request
   * of the vault waits until the pause ends, and the bucket restarts empty. A 429 to a request sent
   * after the previous pause began is a repeat, and the pause grows with jittered exponential backoff.
   * Returns the pause in ms from now.
   */
  throttled(retryAfterMs: number | undefined, sentAt: number): number {
    const now = this.#now();
    let delay: number;
    if (sentAt > this.#episodeStartedAt) {
      this.#repeats += 1;
      this.#episodeStartedAt = now;
      delay = throttleDelayMs(this.#repeats, retryAfterMs, { ...this.#backoff, random: this.#random });
    } else {
      // Sent before we knew: it only extends the pause to its own Retry-After.
      delay = retryAfterMs ?? this.#backoff.baseMs;
    }
    return this.pause(delay);
  }

  /** A pause of `ms` without escalation (a 503 with Retry-After); returns the pause in ms from now. */
  pause(ms: number): number {
    const until = this.#now() + ms;
    if (until > this.#pausedUntil) {
      this.#pausedUntil = until;
      this.#tokens = 0;
      this.#countedAt = until;
      this.#schedule();
    }
    return this.pausedForMs();
  }

  /** Any other answer to a request sent at `sentAt`: a request sent after the last 429 ends the episode. */
  answered(sentAt: number): void {
    if (sentAt > this.#episodeStartedAt) this.#repeats = 0;
  }

  /** Rejects every waiter (shutdown of a test); the limiter stays usable. */
  clear(reason: unknown): void {
    for (const list of Object.values(this.#waiting)) {
      for (const w of list.splice(0)) {
        if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
        w.reject(reason);
      }
    }
    this.#schedule();
  }

  #refill(): void {
    const now = this.#now();
    if (now <= this.#countedAt) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#countedAt) * this.#perMs);
    this.#countedAt = now;
  }

  #next(): Waiter | undefined {
    return this.#waiting.high.shift() ?? this.#waiting.normal.shift();
  }

  #grant(): void {
    this.#refill();
    const now = this.#now();
    while (this.waiting > 0 && now >= this.#pausedUntil && this.#tokens >= 1) {
      const w = this.#next();
      if (w === undefined) break;
      this.#tokens -= 1;
      if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(now);
    }
  }

  #schedule(): void {
    this.#grant();
    if (this.waiting === 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = this.#now();
    const tokenAt = Math.max(now, this.#countedAt) + Math.max(0, (1 - this.#tokens) / this.#perMs);
    const at = Math.max(this.#pausedUntil, tokenAt);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#schedule();
    }, Math.max(1, Math.ceil(at - now)));
    // Ref'd on purpose: a request waiting for its token is work in progress. An unref'd timer let a
    // process whose only pending work was such a request (the mount sidecar mid-round) exit silently.
  }
}

/**
 * Returns `n` when it is a valid budget.
 * @throws RangeError unless `n` is a positive integer
 */
export function checkRequestsPer10s(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`requests per 10 s must be a positive integer, got ${n}`);
  return n;
}

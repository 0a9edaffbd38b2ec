/**
 * A circuit breaker for one vault. `closed`: requests flow; `failureThreshold` outage failures in a
 * row (5xx, connection errors, timeouts — the caller decides what counts) open it. `open`: requests
 * fail fast for a cooldown. Then `half-open`: exactly one probe is let through; its success closes the
 * breaker, its failure opens it again with the cooldown doubled (capped). Any answer that shows the
 * vault is up (2xx, 4xx, 429) counts as a success. Injectable clock, no timers.
 */

export type CircuitState = 'closed' | 'half-open' | 'open';

/** Gauge values of `kvsync_keyvault_circuit_state`. */
export const CIRCUIT_STATE_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface CircuitBreakerOptions {
  /** Outage failures in a row that open the breaker; default 5. */
  failureThreshold?: number;
  /** First cooldown; default 5 s. Doubles after each failed probe, up to `maxCooldownMs` (default 60 s). */
  cooldownMs?: number;
  maxCooldownMs?: number;
  /** A probe without an outcome after this long is considered lost and another is allowed; default 60 s. */
  probeTimeoutMs?: number;
  now?: () => number;
  /** Told of every state change. */
  onStateChange?: (state: CircuitState) => void;
}

/** How long a request refused while a probe is in flight is told to wait. */
const PROBE_ANSWER_MS = 1000;

/** What {@link CircuitBreaker.admit} decided. */
export type Admission = { allowed: true; probe: boolean } | { allowed: false; retryAfterMs: number };

export class CircuitBreaker {
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedTimes = 0;
  #openUntil = 0;
  #probeSince: number | undefined;
  #lastFailure = '';
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #maxCooldownMs: number;
  readonly #probeTimeoutMs: number;
  readonly #now: () => number;
  readonly #onStateChange: ((state: CircuitState) => void) | undefined;

  constructor(opts: CircuitBreakerOptions = {}) {
    this.#threshold = opts.failureThreshold ?? 5;
    this.#cooldownMs = opts.cooldownMs ?? 5000;
    this.#maxCooldownMs = opts.maxCooldownMs ?? 60_000;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
    this.#onStateChange = opts.onStateChange;
  }

  /** The state now (an open breaker whose cooldown has passed reads as half-open). */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() >= this.#openUntil) this.#set('half-open');
    return this.#state;
  }

  /** The failure that opened the breaker, e.g. `HTTP 503` (for messages). */
  get lastFailure(): string {
    return this.#lastFailure;
  }

  /** Outage failures in a row that opened it (for messages). */
  get threshold(): number {
    return this.#threshold;
  }

  /** True when a request would be refused now (without taking the half-open probe slot). */
  refuses(): boolean {
    const s = this.state;
    return s === 'open' || (s === 'half-open' && this.#probeSince !== undefined && this.#now() - this.#probeSince < this.#probeTimeoutMs);
  }

  /** Milliseconds until a request may be tried again (0 when closed). */
  retryAfterMs(): number {
    const s = this.state;
    if (s === 'open') return Math.max(1, this.#openUntil - this.#now());
    // A probe is in flight: its answer normally comes within a second.
    if (s === 'half-open' && this.#probeSince !== undefined) return Math.max(1, Math.min(PROBE_ANSWER_MS, this.#probeSince + this.#probeTimeoutMs - this.#now()));
    return 0;
  }

  /** Decides for one request; in half-open the first caller becomes the probe. */
  admit(): Admission {
    const s = this.state;
    if (s === 'closed') return { allowed: true, probe: false };
    if (s === 'half-open' && !this.refuses()) {
      this.#probeSince = this.#now();
      return { allowed: true, probe: true };
    }
    return { allowed: false, retryAfterMs: this.retryAfterMs() };
  }

  /** The vault answered (anything but an outage failure). */
  succeeded(probe: boolean): void {
    if (this.#state === 'closed') this.#failures = 0;
    else if (probe && this.#state === 'half-open') {
      this.#failures = 0;
      this.#openedTimes = 0;
      this.#probeSince = undefined;
      this.#set('closed');
    }
  }

  /** A probe ended without telling whether the vault is up (e.g. aborted): another may be tried. */
  released(probe: boolean): void {
    if (probe && this.#state === 'half-open') this.#probeSince = undefined;
  }

  /** An outage failure (`what`, e.g. `HTTP 503`, `ECONNRESET`). Failures while open change nothing. */
  failed(probe: boolean, what: string): void {
    if (this.#state === 'closed') {
      this.#failures += 1;
      this.#lastFailure = what;
      if (this.#failures >= this.#threshold) this.#open();
    } else if (probe && this.#state === 'half-open') {
      this.#lastFailure = what;
      this.#open();
    }
  }

  #open(): void {
    const cooldown = Math.min(this.#maxCooldownMs, this.#cooldownMs * 2 ** this.#openedTimes);
    this.#openedTimes += 1;
    this.#openUntil = this.#now() + cooldown;
    this.#probeSince = undefined;
    this.#set('open');
  }

  #set(state: CircuitState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#onStateChange?.(state);
  }
}

/**
 * Never hit a vault harder than it allows: one {@link VaultLimiter} and one {@link CircuitBreaker} per
 * vault host, shared by every Key Vault client and identity of one KeyVaultAccess (access.ts), applied by
 * an SDK pipeline policy placed per retry, so every attempt — SDK retries included — takes a token.
 *
 * Per request: a breaker that is open fails it fast (SyncError `VaultUnavailable`); a Retry-After
 * pause longer than `maxPauseWaitMs` fails it fast (SyncError `Throttled` with `retryAfterMs`); else it
 * waits for a token (never-synced KeyVaultSyncs first, see {@link withVaultRequestContext}). The first
 * long wait is noted in the request context as soon as it is known (the vault is paused for that long
 * already, the wait for a token has lasted that long, or an answer pauses the vault that long) and told
 * to the context's `onLongWait` then, not when the fetch returns: a fetch may wait through several
 * pauses. The answer feeds both: 429 → vault-wide pause (Retry-After, jittered exponential backoff when repeated);
 * 503 with Retry-After → pause for Retry-After; 5xx, 408, connection errors and attempts past their
 * deadline (`VaultTimeout`, request-deadline.ts) → breaker failures;
 * anything else (2xx, 403, 404, …) shows the vault is up.
 *
 * The SDK's own retry policy stays (maxRetries 2): it waits Retry-After before retrying, and the pause
 * here starts from the same answer, so the waits overlap rather than add up. An answer that pauses the
 * vault for longer than `maxPauseWaitMs` fails at once with `Throttled` (the SDK would wait the whole
 * Retry-After, however long, before its retry). The fail-fast errors are not RestErrors, so the SDK
 * never retries them: a request costs at most three attempts and `maxPauseWaitMs` of waiting each.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { PipelinePolicy, PipelineResponse } from '@azure/core-rest-pipeline';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.ts';
import { SyncError, retryAfterMsOf } from './errors.ts';
import { isVaultTimeout } from './request-deadline.ts';
import { VaultLimiter, checkRequestsPer10s, type RequestPriority } from './vault-limiter.ts';
import { Observers } from '../util/observers.ts';

/**
 * Default budget per vault: half of Key Vault's published limit for secrets and vault transactions
 * (4,000 per 10 s per vault per region, https://learn.microsoft.com/azure/key-vault/general/service-limits),
 * leaving room for the vault's other clients.
 */
export const DEFAULT_VAULT_REQUESTS_PER_10S = 2000;

export interface VaultGuardOptions {
  /** Requests per vault in any 10 s span; default {@link DEFAULT_VAULT_REQUESTS_PER_10S}. */
  requestsPer10s: number;
  /** A wait this long (for a token, or a Retry-After pause) is noted in the request context; default 2 s. */
  longWaitMs: number;
  /** A vault paused for longer than this fails requests at once with `Throttled`; default 30 s. */
  maxPauseWaitMs: number;
  breaker: Omit<CircuitBreakerOptions, 'now' | 'onStateChange'>;
}

/** A long wait of one request: for the vault's request budget, or for a Retry-After pause. */
export interface VaultWait {
  vault: string;
  /** How long the request waited for a token. */
  waitedMs: number;
  /** The vault's pause (Retry-After, backoff) when the wait was noted; 0 when it waited for the budget. */
  pausedForMs: number;
  /** The vault's request budget per 10 s at the time. */
  requestsPer10s: number;
}

/**
 * What one fetch and the policy share (through AsyncLocalStorage, no plumbing in fetch.ts): the
 * fetch's priority in, the first long wait out.
 */
export interface VaultRequestContext {
  /** `high` for KeyVaultSyncs never synced: served before `normal` waiters. */
  priority: RequestPriority;
  /**
   * Set by the policy once: when one of the context's requests finds the vault paused for at least
   * `longWaitMs`, has waited that long for a token, or got a 429 (or 503) whose pause is that long.
   */
  longWait?: VaultWait;
  /** Told `longWait` once, when it is set (inside the request's pipeline: must return at once and never throw). */
  onLongWait?: ((wait: VaultWait) => void) | undefined;
  /** The sync's deadline: every request of the fetch (token requests and limiter waits included) ends when it fires. */
  signal?: AbortSignal;
}

const contexts = new AsyncLocalStorage<VaultRequestContext>();

/** Runs `fn` (a fetch) so that its Key Vault requests carry `ctx`; `ctx.longWait` says how it went. */
export function withVaultRequestContext<T>(ctx: VaultRequestContext, fn: () => Promise<T>): Promise<T> {
  return contexts.run(ctx, fn);
}

/**
 * Joins the context's `signal` to each request (place it per call, before the SDK's authentication
 * policy, so the token request the challenge triggers gets it too).
 */
export const vaultContextSignalPolicy: PipelinePolicy = {
  name: 'kvsyncVaultContextSignal',
  sendRequest: async (request, next) => {
    const signal = contexts.getStore()?.signal;
    if (signal === undefined) return next(request);
    const original = request.abortSignal;
    request.abortSignal = original instanceof AbortSignal ? AbortSignal.any([signal, original]) : signal;
    try {
      return await next(request);
    } finally {
      request.abortSignal = original;
    }
  },
};

/** What the guards report: a request waited `seconds` for a token or a pause; a breaker changed state. */
export type VaultGuardEvent = { kind: 'waited'; vault: string; seconds: number } | { kind: 'circuit'; vault: string; state: CircuitState };

interface Guard {
  vault: string;
  limiter: VaultLimiter;
  breaker: CircuitBreaker;
}

/** The vault's name: the first label of its host (`devkv.vault.azure.net:8443` → `devkv`). */
function vaultName(host: string): string {
  return host.split('.')[0] ?? host;
}

function outageStatus(status: number): boolean {
  return status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

function responseRetryAfterMs(response: PipelineResponse): number | undefined {
  return retryAfterMsOf({ get: (name) => response.headers.get(name) });
}

export class VaultGuards {
  #opts: VaultGuardOptions = { requestsPer10s: DEFAULT_VAULT_REQUESTS_PER_10S, longWaitMs: 2000, maxPauseWaitMs: 30_000, breaker: {} };
  readonly #guards = new Map<string, Guard>();
  readonly #events = new Observers<VaultGuardEvent>();
  readonly #now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Sets the options for every vault (existing limiters get the new rate; breakers made from now on
   * get the new breaker options). The last call wins.
   * @throws RangeError when `requestsPer10s` is not a positive integer
   */
  configure(opts: Partial<VaultGuardOptions>): void {
    const next = { ...this.#opts, ...opts };
    checkRequestsPer10s(next.requestsPer10s);
    for (const g of this.#guards.values()) g.limiter.setRate(next.requestsPer10s);
    this.#opts = next;
  }

  get options(): Readonly<VaultGuardOptions> {
    return this.#opts;
  }

  /** Subscribes to waits and breaker changes; returns the unsubscribe function. */
  observe(observer: (e: VaultGuardEvent) => void): () => void {
    return this.#events.observe(observer);
  }

  /** The breaker state of every vault seen so far. */
  circuitStates(): { vault: string; state: CircuitState }[] {
    return [...this.#guards.values()].map((g) => ({ vault: g.vault, state: g.breaker.state }));
  }

  /** The guard of a vault host (`name.vault.azure.net[:port]`), made on first use. */
  guard(host: string): Guard {
    const key = host.toLowerCase();
    let g = this.#guards.get(key);
    if (g === undefined) {
      const vault = vaultName(key);
      g = {
        vault,
        limiter: new VaultLimiter({ requestsPer10s: this.#opts.requestsPer10s, now: this.#now }),
        breaker: new CircuitBreaker({ ...this.#opts.breaker, now: this.#now, onStateChange: (state) => this.#events.tell({ kind: 'circuit', vault, state }) }),
      };
      this.#guards.set(key, g);
    }
    return g;
  }

  /** The pipeline policy (place it per retry, outside the request-metrics policy). */
  readonly policy: PipelinePolicy = {
    name: 'kvsyncVaultGuard',
    sendRequest: async (request, next) => {
      const g = this.guard(new URL(request.url).host);
      const ctx = contexts.getStore();
      if (g.breaker.refuses()) throw unavailable(g);
      const pausedFor = g.limiter.pausedForMs();
      if (pausedFor > this.#opts.maxPauseWaitMs) throw throttled(g, pausedFor);
      const asked = this.#now();
      // A wait that will be long is told before it starts; one that turns out long, once it has been.
      if (pausedFor >= this.#opts.longWaitMs) this.#noteLongWait(ctx, { vault: g.vault, waitedMs: 0, pausedForMs: pausedFor });
      const longWaitTimer = ctx === undefined || ctx.longWait !== undefined ? undefined : setTimeout(() => this.#noteLongWait(ctx, { vault: g.vault, waitedMs: Math.max(this.#opts.longWaitMs, this.#now() - asked), pausedForMs: g.limiter.pausedForMs() }), this.#opts.longWaitMs);
      longWaitTimer?.unref();
      let sentAt: number;
      try {
        sentAt = await g.limiter.acquire(ctx?.priority ?? 'normal', request.abortSignal);
      } finally {
        clearTimeout(longWaitTimer);
      }
      const waitedMs = sentAt - asked;
      if (waitedMs > 0) this.#events.tell({ kind: 'waited', vault: g.vault, seconds: waitedMs / 1000 });
      if (waitedMs >= this.#opts.longWaitMs) this.#noteLongWait(ctx, { vault: g.vault, waitedMs, pausedForMs: pausedFor });
      const admission = g.breaker.admit();
      if (!admission.allowed) throw unavailable(g);
      let response: PipelineResponse;
      try {
        response = await next(request);
      } catch (err) {
        const name = err instanceof Error ? err.name : '';
        // An attempt that outlived its deadline is an outage: enough of them open the breaker.
        if (isVaultTimeout(err)) g.breaker.failed(admission.probe, 'VaultTimeout');
        else if (name === 'AbortError' || err instanceof SyncError) g.breaker.released(admission.probe);
        else g.breaker.failed(admission.probe, ((err as { code?: unknown }).code as string | undefined) ?? 'connection error');
        throw err;
      }
      const status = response.status;
      let pausedMs = 0;
      if (status === 429) pausedMs = g.limiter.throttled(responseRetryAfterMs(response), sentAt);
      else {
        g.limiter.answered(sentAt);
        const retryAfterMs = status === 503 ? responseRetryAfterMs(response) : undefined;
        if (retryAfterMs !== undefined) pausedMs = g.limiter.pause(retryAfterMs);
      }
      // The SDK now waits Retry-After before its retry (outside this policy): that wait is noted too.
      if (pausedMs >= this.#opts.longWaitMs) this.#noteLongWait(ctx, { vault: g.vault, waitedMs: 0, pausedForMs: pausedMs });
      if (outageStatus(status)) g.breaker.failed(admission.probe, `HTTP ${status}`);
      else g.breaker.succeeded(admission.probe);
      if (pausedMs > this.#opts.maxPauseWaitMs) throw throttled(g, pausedMs);
      return response;
    },
  };

  #noteLongWait(ctx: VaultRequestContext | undefined, wait: Omit<VaultWait, 'requestsPer10s'>): void {
    if (ctx === undefined || ctx.longWait !== undefined) return;
    ctx.longWait = { ...wait, requestsPer10s: this.#opts.requestsPer10s };
    try {
      ctx.onLongWait?.(ctx.longWait);
    } catch {
      // The listener's failure is its own: the request goes on.
    }
  }
}

function throttled(g: Guard, pausedForMs: number): SyncError {
  return new SyncError('Throttled', `vault "${g.vault}" is throttled: Key Vault asked for a pause of ${Math.ceil(pausedForMs / 1000)} s (Retry-After and backoff)`, { retryAfterMs: pausedForMs });
}

function unavailable(g: Guard): SyncError {
  const retryAfterMs = g.breaker.retryAfterMs();
  return new SyncError(
    'VaultUnavailable',
    `vault "${g.vault}" is unavailable: ${g.breaker.threshold} requests in a row failed (last: ${g.breaker.lastFailure}); kvsync sends no request to it for ${Math.ceil(retryAfterMs / 1000)} s, then one probe`,
    { retryAfterMs },
  );
}

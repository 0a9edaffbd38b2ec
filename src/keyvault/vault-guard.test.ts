/**
 * The vault guard inside the real Key Vault SDK pipeline (SecretClient with its retry and challenge
 * policies), over a stub HTTP client: what reaches the "vault", when, and what the caller sees.
 * Time is vitest's fake clock (Date.now and timers, the SDK's retry delays included), so every "when"
 * is exact and none depends on how busy the machine is.
 */
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { HttpClient, HttpHeaders, PipelineRequest, PipelineResponse, RawHttpHeaders } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isSyncError } from './errors.ts';
import { VaultGuards, withVaultRequestContext, type VaultGuardEvent, type VaultRequestContext, type VaultWait } from './vault-guard.ts';

class Headers implements HttpHeaders {
  readonly #m = new Map<string, string>();
  constructor(init: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(init)) this.set(k, v);
  }
  get(name: string): string | undefined {
    return this.#m.get(name.toLowerCase());
  }
  has(name: string): boolean {
    return this.#m.has(name.toLowerCase());
  }
  set(name: string, value: string | number | boolean): void {
    this.#m.set(name.toLowerCase(), String(value));
  }
  delete(name: string): void {
    this.#m.delete(name.toLowerCase());
  }
  toJSON(): RawHttpHeaders {
    return Object.fromEntries(this.#m);
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#m.entries();
  }
}

const credential: TokenCredential = { getToken: (): Promise<AccessToken> => Promise.resolve({ token: 'unit-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

interface Sent {
  at: number;
  url: string;
}

/** A vault that answers the challenge, then with `answer(n)` for the n-th authenticated request. */
function stubVault(answer: (n: number, request: PipelineRequest) => { status: number; headers?: Record<string, string> }): { http: HttpClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const http: HttpClient = {
    sendRequest: (request) => {
      if (!request.headers.has('authorization')) {
        return Promise.resolve({ request, status: 401, headers: new Headers({ 'www-authenticate': 'Bearer authorization="https://login.example/tenant", resource="https://vault.azure.net"' }), bodyAsText: '' } satisfies PipelineResponse);
      }
      sent.push({ at: Date.now(), url: request.url });
      const a = answer(sent.length, request);
      const name = new URL(request.url).pathname.split('/')[2] ?? 's';
      const body = a.status === 200 ? JSON.stringify({ value: 'v', id: `${new URL(request.url).origin}/secrets/${name}/0123456789abcdef`, attributes: { enabled: true } }) : JSON.stringify({ error: { code: a.status === 429 ? 'Throttled' : 'ServiceUnavailable', message: 'stub' } });
      return Promise.resolve({ request, status: a.status, headers: new Headers({ 'content-type': 'application/json', ...a.headers }), bodyAsText: body } satisfies PipelineResponse);
    },
  };
  return { http, sent };
}

function client(vault: string, guards: VaultGuards, http: HttpClient, maxRetries = 2): SecretClient {
  return new SecretClient(`https://${vault}.vault.azure.net`, credential, {
    httpClient: http,
    retryOptions: { maxRetries, retryDelayInMs: 10, maxRetryDelayInMs: 50 },
    additionalPolicies: [{ policy: guards.policy, position: 'perRetry' }],
  });
}

/** Lets `ms` of fake time pass, running the timers and promise callbacks due in it. */
const elapse = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

/** Settles `p` while fake time runs on (every timer fires), and answers its outcome. */
async function settle<T>(p: Promise<T>): Promise<T> {
  const outcome = p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.runAllTimersAsync();
  const r = await outcome;
  if ('error' in r) throw r.error;
  return r.value;
}

describe('vault guard in the Key Vault SDK pipeline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pauses every request of the vault after a 429 and lets the SDK retry without adding waits', async () => {
    const guards = new VaultGuards();
    const { http, sent } = stubVault((n) => (n === 1 ? { status: 429, headers: { 'retry-after-ms': '400' } } : { status: 200 }));
    const kv = client('pausekv', guards, http);
    const first = kv.getSecret('a');
    await elapse(50);
    expect(sent).toHaveLength(1);
    // Asked for while the vault is paused: it waits for the pause too.
    const second = kv.getSecret('b');
    await settle(Promise.all([first, second]));
    const throttledAt = sent[0]?.at ?? 0;
    expect(sent).toHaveLength(3);
    for (const s of sent.slice(1)) expect(s.at - throttledAt).toBeGreaterThanOrEqual(400);
    // Retry-After is waited once (the SDK's wait and the vault's pause overlap), not twice.
    expect(Math.max(...sent.map((s) => s.at)) - throttledAt).toBeLessThan(800);
  });

  it('opens the breaker after repeated 5xx: requests fail fast with VaultUnavailable, then one probe closes it', async () => {
    const guards = new VaultGuards();
    guards.configure({ breaker: { failureThreshold: 5, cooldownMs: 300 } });
    const events: VaultGuardEvent[] = [];
    guards.observe((e) => events.push(e));
    let healthy = false;
    const { http, sent } = stubVault(() => (healthy ? { status: 200 } : { status: 503 }));
    const kv = client('outagekv', guards, http);
    await expect(settle(kv.getSecret('a'))).rejects.toMatchObject({ statusCode: 503 }); // 3 attempts
    const second = await settle(kv.getSecret('a')).catch((e: unknown) => e); // 2 attempts, then the breaker opens
    expect(isSyncError(second, 'VaultUnavailable')).toBe(true);
    expect(sent).toHaveLength(5);
    expect(guards.circuitStates()).toEqual([{ vault: 'outagekv', state: 'open' }]);
    const fast = await settle(kv.getSecret('a')).catch((e: unknown) => e);
    expect(isSyncError(fast, 'VaultUnavailable')).toBe(true);
    expect((fast as Error).message).toMatch(/vault "outagekv" is unavailable: 5 requests in a row failed \(last: HTTP 503\)/);
    expect(sent).toHaveLength(5);
    healthy = true;
    expect(guards.circuitStates()[0]?.state).toBe('open');
    await elapse(300);
    expect(guards.circuitStates()[0]?.state).toBe('half-open');
    expect((await settle(kv.getSecret('a'))).value).toBe('v');
    expect(guards.circuitStates()[0]?.state).toBe('closed');
    expect(sent).toHaveLength(6);
    // Observers (the controller's metrics) are told each change of state.
    expect(events.filter((e) => e.kind === 'circuit')).toEqual(['open', 'half-open', 'closed'].map((state) => ({ kind: 'circuit', vault: 'outagekv', state })));
  });

  it('does not count 403/404 as outage failures', async () => {
    const guards = new VaultGuards();
    guards.configure({ breaker: { failureThreshold: 2 } });
    const { http } = stubVault((n) => ({ status: n % 2 === 0 ? 404 : 500 }));
    const kv = client('mixedkv', guards, http, 0);
    for (let i = 0; i < 6; i++) await settle(kv.getSecret('a')).catch(() => undefined);
    expect(guards.circuitStates()[0]?.state).toBe('closed');
  });

  it('notes a long Retry-After in the request context', async () => {
    const guards = new VaultGuards();
    guards.configure({ longWaitMs: 1000 });
    const { http, sent } = stubVault((n) => (n === 1 ? { status: 429, headers: { 'retry-after-ms': '1500' } } : { status: 200 }));
    const kv = client('retryafterkv', guards, http);
    const ctx: VaultRequestContext = { priority: 'normal' };
    await settle(withVaultRequestContext(ctx, () => kv.getSecret('a')));
    expect(sent).toHaveLength(2);
    expect(ctx.longWait?.pausedForMs).toBe(1500);
    // The retry went out when the pause ended, not before.
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(1500);
    // Noted from the 429's Retry-After, not from the retry's wait for a token.
    expect(ctx.longWait?.waitedMs).toBe(0);
  });

  it('fails fast with Throttled while the vault is paused longer than maxPauseWaitMs', async () => {
    const guards = new VaultGuards();
    guards.configure({ maxPauseWaitMs: 1000 });
    const { http, sent } = stubVault(() => ({ status: 429, headers: { 'retry-after': '30' } }));
    const kv = client('longpausekv', guards, http);
    // The answer that asks for the long pause fails at once: the SDK never sleeps its Retry-After.
    const first = kv.getSecret('a').catch((e: unknown) => e);
    await elapse(10);
    const err1 = await first;
    expect(isSyncError(err1, 'Throttled')).toBe(true);
    expect((err1 as { retryAfterMs?: number }).retryAfterMs).toBe(30_000);
    await elapse(990);
    const err = await settle(kv.getSecret('a')).catch((e: unknown) => e);
    expect(isSyncError(err, 'Throttled')).toBe(true);
    expect((err as { retryAfterMs?: number }).retryAfterMs).toBe(29_000);
    expect(sent).toHaveLength(1);
  });

  it('bounds a 429 storm: three attempts per request, each waiting at most maxPauseWaitMs, Throttled told at the first', async () => {
    const guards = new VaultGuards();
    guards.configure({ longWaitMs: 2000, maxPauseWaitMs: 30_000 });
    const { http, sent } = stubVault(() => ({ status: 429, headers: { 'retry-after': '2' } }));
    const kv = client('stormkv', guards, http);
    const told: number[] = [];
    const ctx: VaultRequestContext = { priority: 'normal', onLongWait: () => told.push(Date.now()) };
    const started = Date.now();
    const err = await settle(withVaultRequestContext(ctx, () => kv.getSecret('a'))).catch((e: unknown) => e);
    expect(sent).toHaveLength(3);
    expect(told).toEqual([sent[0]?.at]);
    // Pauses of 2, 2 and 2–4 s: none is long enough to fail fast; the third 429 is the SDK's to throw.
    expect(err).toMatchObject({ statusCode: 429 });
    expect(Date.now() - started).toBeLessThanOrEqual(3 * 30_000);
  });

  it('tells the context of a long wait when it is first known, while the request still waits', async () => {
    const guards = new VaultGuards();
    guards.configure({ longWaitMs: 1000, requestsPer10s: 10 }); // burst 1, then one per 1.1 s
    const { http, sent } = stubVault(() => ({ status: 200 }));
    const kv = client('tellkv', guards, http);
    await settle(kv.getSecret('warm'));
    // Behind the spent budget: told once it has waited longWaitMs, before its token comes.
    const budget: VaultWait[] = [];
    const budgetRead = withVaultRequestContext({ priority: 'normal', onLongWait: (w) => budget.push(w) }, () => kv.getSecret('b'));
    await elapse(990);
    expect(budget).toEqual([]);
    await elapse(20);
    expect(budget).toMatchObject([{ vault: 'tellkv', pausedForMs: 0 }]);
    expect(budget[0]?.waitedMs).toBeGreaterThanOrEqual(1000);
    expect(sent).toHaveLength(1);
    await settle(budgetRead);
    expect(sent).toHaveLength(2);
    // A vault paused (by another request's 429) for longer than longWaitMs: told before the wait.
    guards.guard('tellkv.vault.azure.net').limiter.pause(5000);
    const paused: VaultWait[] = [];
    const pausedRead = withVaultRequestContext({ priority: 'normal', onLongWait: (w) => paused.push(w) }, () => kv.getSecret('a'));
    await elapse(10);
    expect(paused).toMatchObject([{ vault: 'tellkv', waitedMs: 0 }]);
    expect(paused[0]?.pausedForMs).toBeGreaterThan(4000);
    expect(sent).toHaveLength(2);
    await settle(pausedRead);
    expect(sent).toHaveLength(3);
    expect([paused.length, budget.length]).toEqual([1, 1]);
  });

  it('serves never-synced (high priority) requests first and notes a long wait', async () => {
    const guards = new VaultGuards();
    guards.configure({ requestsPer10s: 20, longWaitMs: 100 }); // burst 2, then one per 556 ms
    const waits: VaultGuardEvent[] = [];
    guards.observe((e) => waits.push(e));
    const { http, sent } = stubVault(() => ({ status: 200 }));
    const kv = client('prioritykv', guards, http);
    await settle(kv.getSecret('warm')); // the challenge and this request take the burst
    const normal = ['n1', 'n2', 'n3', 'n4'].map((n) => kv.getSecret(n));
    await elapse(20);
    expect(sent).toHaveLength(1);
    const ctx: VaultRequestContext = { priority: 'high' };
    const high = withVaultRequestContext(ctx, () => Promise.all([kv.getSecret('h1'), kv.getSecret('h2')]));
    await settle(Promise.all([...normal, high]));
    const order = sent.map((s) => new URL(s.url).pathname.split('/')[2]);
    expect(order).toEqual(['warm', 'h1', 'h2', 'n1', 'n2', 'n3', 'n4']);
    expect(ctx.longWait).toMatchObject({ vault: 'prioritykv', pausedForMs: 0, requestsPer10s: 20 });
    expect(ctx.longWait?.waitedMs).toBeGreaterThanOrEqual(100);
    // Each request that waited for a token was told to the observers (the controller's metrics).
    expect(waits.length).toBeGreaterThanOrEqual(5);
    expect(waits.every((e) => e.kind === 'waited' && e.vault === 'prioritykv' && e.seconds > 0)).toBe(true);
  });
});

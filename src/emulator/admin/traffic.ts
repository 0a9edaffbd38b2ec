/**
 * Traffic control for the data plane: Azure-like per-vault throttling (N requests per 10-second
 * window, then 429 with Retry-After until the window ends) and injected faults (status codes such as
 * 429/500/503, added latency, closed or reset connections, answers cut off mid-body, answers with a
 * wrong Content-Type) for a vault and operation, for a number of requests or a duration. Entra ID's
 * and IMDS's token endpoints take faults too, but only those naming their operation (`token`,
 * `imdsToken`): a fault for every operation means every Key Vault operation. Windows and fault
 * durations use real time, not the shifted emulator clock.
 */
import { randomUUID } from 'node:crypto';

export const THROTTLE_WINDOW_MS = 10_000;

export type FaultKind = 'status' | 'latency' | 'drop' | 'reset' | 'truncate' | 'contentType';

/** Operations of the identity side, which only faults naming them reach. */
export const IDENTITY_OPERATIONS: ReadonlySet<string> = new Set(['token', 'imdstoken']);

export interface Fault {
  id: string;
  /** Vault name or `*`. */
  vault: string;
  /** SDK-style operation name or `*`. */
  operation: string;
  kind: FaultKind;
  /** For `status`: the HTTP status (default 429). */
  status?: number;
  /** For 429/503: the Retry-After header in seconds (default 1); null leaves it out. */
  retryAfterSeconds?: number | null;
  /** For `latency`: added delay. */
  latencyMs?: number;
  /** For `contentType`: the Content-Type the real answer is sent with. */
  contentType?: string;
  /** Remaining applications; undefined = unlimited until `untilMs`. */
  remaining?: number;
  /** Expiry (epoch ms); undefined = until cleared or used up. */
  untilMs?: number;
}

export class FaultSpecError extends Error {
  readonly reason = 'InvalidFaultSpec';
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

const FAULT_KINDS: readonly FaultKind[] = ['status', 'latency', 'drop', 'reset', 'truncate', 'contentType'];

/** Parses the body of `POST <adminUrl>/faults`. */
export function parseFaultSpec(body: unknown, nowMs: number): Fault {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new FaultSpecError('body must be a JSON object');
  const b = body as Record<string, unknown>;
  const optNum = (key: string): number | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new FaultSpecError(`${key} must be a non-negative number`);
    return v;
  };
  const optStr = (key: string): string | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') throw new FaultSpecError(`${key} must be a non-empty string`);
    return v;
  };
  const latencyMs = optNum('latencyMs');
  const status = optNum('status');
  const contentType = optStr('contentType');
  let kind: FaultKind = status === undefined && latencyMs !== undefined ? 'latency' : 'status';
  if (b.drop === true) kind = 'drop';
  else if (b.reset === true) kind = 'reset';
  else if (b.truncate === true) kind = 'truncate';
  else if (contentType !== undefined) kind = 'contentType';
  if (b.kind !== undefined) {
    if (typeof b.kind !== 'string' || !FAULT_KINDS.includes(b.kind as FaultKind)) throw new FaultSpecError(`kind must be one of ${FAULT_KINDS.join(', ')}`);
    kind = b.kind as FaultKind;
  }
  if (kind === 'contentType' && contentType === undefined) throw new FaultSpecError('contentType is required for a contentType fault');
  if (kind === 'status' && status !== undefined && (status < 400 || status > 599 || !Number.isInteger(status))) throw new FaultSpecError('status must be an HTTP error status (400-599)');
  if (kind === 'latency' && latencyMs === undefined) throw new FaultSpecError('latencyMs is required for a latency fault');
  const count = optNum('count');
  const durationSeconds = optNum('durationSeconds');
  const fault: Fault = { id: randomUUID(), vault: (optStr('vault') ?? '*').toLowerCase(), operation: optStr('operation') ?? '*', kind };
  if (kind === 'status') fault.status = status ?? 429;
  if (latencyMs !== undefined) fault.latencyMs = latencyMs;
  if (kind === 'contentType') fault.contentType = contentType;
  if (b.retryAfterSeconds === null) fault.retryAfterSeconds = null;
  else {
    const ra = optNum('retryAfterSeconds');
    if (ra !== undefined) fault.retryAfterSeconds = ra;
  }
  if (count !== undefined) fault.remaining = Math.floor(count);
  if (durationSeconds !== undefined) fault.untilMs = nowMs + durationSeconds * 1000;
  if (count === undefined && durationSeconds === undefined) fault.remaining = 1;
  return fault;
}

/**
 * What the data plane should do with a request before running it. `drop` closes the connection,
 * `reset` resets it (TCP RST); `truncate` and `contentType` run the request and spoil its answer: the
 * first half of the body then a closed connection, or the body under another Content-Type.
 */
export type TrafficDecision =
  | { action: 'pass'; delayMs: number }
  | { action: 'reject'; status: number; retryAfterSeconds: number | undefined; code: string; message: string; delayMs: number }
  | { action: 'drop' | 'reset' | 'truncate'; delayMs: number }
  | { action: 'contentType'; contentType: string; delayMs: number };

export class TrafficControl {
  #faults: Fault[] = [];
  readonly #limits = new Map<string, number>();
  readonly #windows = new Map<string, { startMs: number; count: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Sets a vault's limit and starts a fresh window for it. */
  setLimit(vault: string, requestsPer10s: number): void {
    this.#limits.set(vault.toLowerCase(), requestsPer10s);
    this.#windows.delete(vault.toLowerCase());
  }

  limits(): Record<string, number> {
    return Object.fromEntries(this.#limits);
  }

  addFault(f: Fault): void {
    this.#faults.push(f);
  }

  faults(): Fault[] {
    this.#expire();
    return this.#faults.map((f) => ({ ...f }));
  }

  /** Clears every fault, or those of one vault and/or operation (as given when they were added). */
  clearFaults(filter: { vault?: string; operation?: string } = {}): void {
    const vault = filter.vault?.toLowerCase();
    const operation = filter.operation?.toLowerCase();
    this.#faults = this.#faults.filter((f) => (vault !== undefined && f.vault !== vault) || (operation !== undefined && f.operation.toLowerCase() !== operation));
  }

  #expire(): void {
    const now = this.#now();
    this.#faults = this.#faults.filter((f) => (f.untilMs === undefined || f.untilMs > now) && (f.remaining === undefined || f.remaining > 0));
  }

  /** Decides for one authenticated request; consumes a fault application and a throttle slot. */
  decide(vault: string, operation: string): TrafficDecision {
    this.#expire();
    const now = this.#now();
    let delayMs = 0;
    // Latency faults add up with whatever else applies; status/drop faults: the first matching one wins.
    const identity = IDENTITY_OPERATIONS.has(operation.toLowerCase());
    for (const f of this.#faults) {
      if ((f.vault !== '*' && f.vault !== vault) || (f.operation === '*' ? identity : f.operation.toLowerCase() !== operation.toLowerCase())) continue;
      if (f.kind === 'latency') {
        delayMs += f.latencyMs ?? 0;
        if (f.remaining !== undefined) f.remaining -= 1;
        continue;
      }
      if (f.remaining !== undefined) f.remaining -= 1;
      if (f.kind === 'drop' || f.kind === 'reset' || f.kind === 'truncate') return { action: f.kind, delayMs };
      if (f.kind === 'contentType') return { action: 'contentType', contentType: f.contentType ?? 'text/html', delayMs };
      const status = f.status ?? 429;
      const retryAfter = f.retryAfterSeconds === null ? undefined : status === 429 || status === 503 ? (f.retryAfterSeconds ?? 1) : f.retryAfterSeconds;
      return { action: 'reject', status, retryAfterSeconds: retryAfter, ...faultError(status), delayMs };
    }
    const limit = this.#limits.get(vault);
    if (limit !== undefined) {
      let w = this.#windows.get(vault);
      if (w === undefined || now - w.startMs >= THROTTLE_WINDOW_MS) {
        w = { startMs: now, count: 0 };
        this.#windows.set(vault, w);
      }
      w.count += 1;
      if (w.count > limit) {
        const retryAfterSeconds = Math.max(1, Math.ceil((w.startMs + THROTTLE_WINDOW_MS - now) / 1000));
        return {
          action: 'reject',
          status: 429,
          retryAfterSeconds,
          code: 'Throttled',
          message: `Request was not processed because too many requests were received. The vault allows ${limit} requests per 10 seconds.`,
          delayMs,
        };
      }
    }
    return { action: 'pass', delayMs };
  }
}

function faultError(status: number): { code: string; message: string } {
  if (status === 429) return { code: 'Throttled', message: 'Request was not processed because too many requests were received. (injected fault)' };
  if (status === 503) return { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable. (injected fault)' };
  if (status >= 500) return { code: 'InternalServerError', message: 'The server encountered an internal error. (injected fault)' };
  return { code: 'BadRequest', message: `Injected fault with status ${status}.` };
}

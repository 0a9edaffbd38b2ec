/**
 * Bounding work in time. {@link withDeadline} runs a step with an AbortSignal that fires when the
 * step's own time is up or when the caller's signal fires, and settles by the deadline even when the
 * step ignores its signal: a peer that accepts a connection and never answers, or answers a byte a
 * second, costs the caller at most the deadline.
 */

/** The part of an AbortSignal read here (the Azure SDK's AbortSignalLike has no `throwIfAborted`). */
export interface ParentSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** An Error for an abort reason (a bare `abort()` leaves a DOMException, which is one). */
function abortError(parent: ParentSignal): Error {
  return parent.reason instanceof Error ? parent.reason : new DOMException('The operation was aborted.', 'AbortError');
}

/** What {@link withDeadline} tells the step. */
export interface DeadlineScope {
  /** Fires at the deadline or when the caller's signal fires. */
  signal: AbortSignal;
}

/**
 * Runs `step` and settles within `ms` (or when `parent` aborts). At the deadline the step's signal
 * fires and the returned promise rejects with `expired()`; when `parent` aborts first, it rejects with
 * the parent's reason. A step that settles before either keeps its own outcome. The timer never keeps
 * the process alive.
 */
export async function withDeadline<T>(ms: number, parent: ParentSignal | undefined, step: (scope: DeadlineScope) => Promise<T>, expired: () => Error): Promise<T> {
  if (parent?.aborted === true) throw abortError(parent);
  const own = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onParentAbort: (() => void) | undefined;
  const ended = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = expired();
      own.abort(err);
      reject(err);
    }, Math.max(0, ms));
    timer.unref();
    if (parent !== undefined) {
      onParentAbort = () => {
        const err = abortError(parent);
        own.abort(err);
        reject(err);
      };
      parent.addEventListener('abort', onParentAbort, { once: true });
    }
  });
  // The step's late rejection (after the deadline) is expected and handled here.
  ended.catch(() => undefined);
  const running = step({ signal: own.signal });
  running.catch(() => undefined);
  try {
    return await Promise.race([running, ended]);
  } catch (err) {
    // The step failed because its signal fired (an AbortError, a reset socket): the deadline is the cause.
    if (own.signal.aborted && own.signal.reason instanceof Error) throw own.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    if (onParentAbort !== undefined) parent?.removeEventListener('abort', onParentAbort);
  }
}

/** `ms` as the short text messages use: `300 ms`, `1.5 s`, `30 s`, `2 min`. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

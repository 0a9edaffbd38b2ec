import { KvsyncError } from './errors.ts';

/**
 * Polls `probe` until it returns a value other than `undefined`, or throws when `timeoutMs` passes.
 * The probe may throw; the last error is kept and reported on timeout (so a test failure says *why*
 * the condition never held). `signal` aborts the wait early; an error for which `isFatal` returns
 * true ends the wait at once and is rethrown (e.g. the process being waited for has died).
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs: number; intervalMs?: number; description: string; signal?: AbortSignal; isFatal?: (err: unknown) => boolean },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 100;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      if (opts.isFatal?.(err)) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new PollTimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.description}${cause}`, lastError);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

export class PollTimeoutError extends KvsyncError<'Timeout'> {
  override readonly name = 'PollTimeoutError';
  constructor(message: string, cause?: unknown) {
    super('Timeout', message, { cause });
  }
}

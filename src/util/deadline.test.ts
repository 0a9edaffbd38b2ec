import { describe, expect, it } from 'vitest';
import { durationText, withDeadline } from './deadline.ts';

class Expired extends Error {
  override readonly name = 'Expired';
}

describe('withDeadline', () => {
  it('keeps the outcome of a step that settles in time', async () => {
    await expect(withDeadline(5_000, undefined, () => Promise.resolve(42), () => new Expired())).resolves.toBe(42);
    await expect(withDeadline(5_000, undefined, () => Promise.reject(new RangeError('own')), () => new Expired())).rejects.toBeInstanceOf(RangeError);
  });

  it('settles at the deadline with the expired error even when the step ignores its signal, and fires the signal', async () => {
    let seen: AbortSignal | undefined;
    const never = new Promise<never>(() => undefined);
    await expect(
      withDeadline(
        20,
        undefined,
        ({ signal }) => {
          seen = signal;
          return never;
        },
        () => new Expired('late'),
      ),
    ).rejects.toBeInstanceOf(Expired);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(Expired);
  });

  it('reports the deadline, not the abort it caused, when the step rejects because of its signal', async () => {
    const step = ({ signal }: { signal: AbortSignal }): Promise<never> =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))));
    await expect(withDeadline(10, undefined, step, () => new Expired())).rejects.toBeInstanceOf(Expired);
  });

  it('ends with the parent signal, passing its reason on', async () => {
    const parent = new AbortController();
    const running = withDeadline(60_000, parent.signal, () => new Promise<never>(() => undefined), () => new Expired());
    parent.abort(new RangeError('sync deadline'));
    await expect(running).rejects.toBeInstanceOf(RangeError);
    const aborted = new AbortController();
    aborted.abort();
    await expect(withDeadline(60_000, aborted.signal, () => Promise.resolve(1), () => new Expired())).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('durationText', () => {
  it('says milliseconds below a second, seconds, and minutes for whole minutes from two on', () => {
    expect(durationText(300)).toBe('300 ms');
    expect(durationText(30_000)).toBe('30 s');
    expect(durationText(1_500)).toBe('1.5 s');
    expect(durationText(60_000)).toBe('60 s');
    expect(durationText(120_000)).toBe('2 min');
  });
});

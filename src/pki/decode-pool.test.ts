import { BroadcastChannel } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleFromKeyVaultSecret, CONTENT_TYPE_PKCS12 } from './bundle.ts';
import { DecodePool, DecoderBusyError, DecodeStoppedError } from './decode-pool.ts';
import { DEFAULT_PKI_LIMITS } from './limits.ts';
import { writePfx } from './pfx-writer.ts';
import { makeChain } from './test-fixtures.ts';
import { STALL, STALL_CHANNEL, stallingWorkerUrl } from './testing/stalling-decode-worker.ts';

/** Key Vault's iteration count: cheap to write and to decode. */
let cheapPfx: string;
let passwordPfx: string;
/** Iterations just past the per-derivation limit: refused before any derivation. */
let overLimitPfx: string;
const pools: DecodePool[] = [];
const pool = (opts: ConstructorParameters<typeof DecodePool>[0] = {}): DecodePool => {
  const p = new DecodePool(opts);
  pools.push(p);
  return p;
};

// Writing runs the key derivations on this thread: done once, with time for a loaded machine.
beforeAll(async () => {
  const chain = await makeChain('RSA', 'pool test');
  const key = chain.leaf.key.export({ format: 'der', type: 'pkcs8' });
  const pfx = (iterations: number, password: string | null = null): string =>
    writePfx([chain.leaf.certDer, chain.intermediate.certDer], key, { password, iterations }).toString('base64');
  cheapPfx = pfx(2000);
  passwordPfx = pfx(2000, 'right');
  overLimitPfx = pfx(DEFAULT_PKI_LIMITS.maxPbeIterations + 1);
}, 120_000);

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  vi.useRealTimers();
});

describe('DecodePool', () => {
  it('builds in a worker thread the same bundle as bundleFromKeyVaultSecret, with options', async () => {
    const value = cheapPfx;
    const p = pool();
    const inWorker = await p.decode(value, CONTENT_TYPE_PKCS12, { keyFormat: 'pkcs1' });
    expect(inWorker).toEqual(bundleFromKeyVaultSecret(value, CONTENT_TYPE_PKCS12, { keyFormat: 'pkcs1' }));
    expect(p.stats).toMatchObject({ decoded: 1, workersStarted: 1 });
  });

  it("hands back a failure as a PkiError with the worker's reason and message only", async () => {
    const p = pool();
    await expect(p.decode(passwordPfx, CONTENT_TYPE_PKCS12, { password: 'wrong' })).rejects.toMatchObject({ name: 'PkiError', reason: 'BadPassword' });
    await expect(p.decode(overLimitPfx, CONTENT_TYPE_PKCS12)).rejects.toMatchObject({ reason: 'LimitExceeded' });
    // The worker survived both.
    expect(p.stats).toMatchObject({ decoded: 2, workersStarted: 1 });
  });

  it('stops a decode past its time limit (TooExpensive), replaces the worker, and decodes the next job', async () => {
    // Only the pool's timers are fake: the stalled decode passes its limit when the test moves the clock
    // on, and the next decode's never passes, however slow this machine is.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const channel = new BroadcastChannel(STALL_CHANNEL);
    const stalled = new Promise<void>((resolve) => {
      channel.onmessage = () => resolve();
    });
    const p = pool({ timeLimitMs: 50, workerUrl: stallingWorkerUrl });
    const slow = p.decode(STALL, CONTENT_TYPE_PKCS12);
    const next = p.decode('not a certificate', undefined);
    let slowSettled = false;
    slow.catch(() => undefined).finally(() => (slowSettled = true));
    await stalled;
    channel.close();
    // The worker said it had loaded before it took the job, and the limit runs from when the pool hears
    // that (a turn of the event loop or so later): move the clock on by the limit, a few times at most.
    for (let step = 0; step < 100 && !slowSettled; step++) {
      await vi.advanceTimersByTimeAsync(50);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(slowSettled, 'the stalled decode is stopped once the clock passes its limit').toBe(true);
    await expect(slow).rejects.toBeInstanceOf(DecodeStoppedError);
    await expect(slow).rejects.toMatchObject({ reason: 'TooExpensive' });
    await expect(next).rejects.toMatchObject({ reason: 'UnsupportedFormat' });
    expect(p.stats).toMatchObject({ stopped: 1, workersStarted: 2 });
  });

  it('serves owners in turn: one owner with many waiting decodes does not go before another', async () => {
    const p = pool({ size: 1 });
    const order: string[] = [];
    const job = (owner: string, n: number): Promise<void> =>
      p.decode(cheapPfx, CONTENT_TYPE_PKCS12, {}, owner).then(() => {
        order.push(`${owner}${n}`);
      });
    await Promise.all([job('a', 1), job('a', 2), job('a', 3), job('b', 1)]);
    expect(order).toEqual(['a1', 'b1', 'a2', 'a3']);
  });

  it('refuses a decode at once when the queue is full, per owner and in total (DecoderBusyError)', async () => {
    const p = pool({ size: 1, maxQueued: 3, maxQueuedPerOwner: 2 });
    const value = cheapPfx;
    const accepted = [p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a'), p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a'), p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a')];
    // One is running; two wait for owner a, its bound.
    await expect(p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a')).rejects.toBeInstanceOf(DecoderBusyError);
    accepted.push(p.decode(value, CONTENT_TYPE_PKCS12, {}, 'b'));
    await expect(p.decode(value, CONTENT_TYPE_PKCS12, {}, 'c')).rejects.toBeInstanceOf(DecoderBusyError);
    await Promise.all(accepted);
    expect(p.stats).toMatchObject({ decoded: 4, refused: 2 });
  });
});

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleFromKeyVaultSecret, CONTENT_TYPE_PKCS12 } from './bundle.ts';
import { DecodePool, DecoderBusyError, DecodeStoppedError } from './decode-pool.ts';
import { writePfx } from './pfx-writer.ts';
import { makeChain, type TestChain } from './test-fixtures.ts';

let chain: TestChain;
let pfx: (iterations: number, password?: string | null) => string;
const pools: DecodePool[] = [];
const pool = (opts: ConstructorParameters<typeof DecodePool>[0] = {}): DecodePool => {
  const p = new DecodePool(opts);
  pools.push(p);
  return p;
};

beforeAll(async () => {
  chain = await makeChain('RSA', 'pool test');
  const key = chain.leaf.key.export({ format: 'der', type: 'pkcs8' });
  pfx = (iterations, password = null) => writePfx([chain.leaf.certDer, chain.intermediate.certDer], key, { password, iterations }).toString('base64');
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('DecodePool', () => {
  it('builds in a worker thread the same bundle as bundleFromKeyVaultSecret, with options', async () => {
    const value = pfx(2000);
    const p = pool();
    const inWorker = await p.decode(value, CONTENT_TYPE_PKCS12, { keyFormat: 'pkcs1' });
    expect(inWorker).toEqual(bundleFromKeyVaultSecret(value, CONTENT_TYPE_PKCS12, { keyFormat: 'pkcs1' }));
    expect(p.stats).toMatchObject({ decoded: 1, workersStarted: 1 });
  });

  it("hands back a failure as a PkiError with the worker's reason and message only", async () => {
    const p = pool();
    await expect(p.decode(pfx(2000, 'right'), CONTENT_TYPE_PKCS12, { password: 'wrong' })).rejects.toMatchObject({ name: 'PkiError', reason: 'BadPassword' });
    await expect(p.decode(pfx(200_000), CONTENT_TYPE_PKCS12)).rejects.toMatchObject({ reason: 'LimitExceeded' });
    // The worker survived both.
    expect(p.stats).toMatchObject({ decoded: 2, workersStarted: 1 });
  });

  it('stops a decode past its time limit (TooExpensive), replaces the worker, and decodes the next job', async () => {
    const p = pool({ timeLimitMs: 50 });
    const slow = p.decode(pfx(30_000), CONTENT_TYPE_PKCS12);
    const next = p.decode('not a certificate', undefined);
    await expect(slow).rejects.toBeInstanceOf(DecodeStoppedError);
    await expect(slow).rejects.toMatchObject({ reason: 'TooExpensive' });
    await expect(next).rejects.toMatchObject({ reason: 'UnsupportedFormat' });
    expect(p.stats).toMatchObject({ stopped: 1, workersStarted: 2 });
  });

  it('serves owners in turn: one owner with many waiting decodes does not go before another', async () => {
    const p = pool({ size: 1 });
    const order: string[] = [];
    const job = (owner: string, n: number): Promise<void> =>
      p.decode(pfx(2000), CONTENT_TYPE_PKCS12, {}, owner).then(() => {
        order.push(`${owner}${n}`);
      });
    await Promise.all([job('a', 1), job('a', 2), job('a', 3), job('b', 1)]);
    expect(order).toEqual(['a1', 'b1', 'a2', 'a3']);
  });

  it('refuses a decode at once when the queue is full, per owner and in total (DecoderBusyError)', async () => {
    const p = pool({ size: 1, maxQueued: 3, maxQueuedPerOwner: 2 });
    const value = pfx(2000);
    const accepted = [p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a'), p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a'), p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a')];
    // One is running; two wait for owner a, its bound.
    await expect(p.decode(value, CONTENT_TYPE_PKCS12, {}, 'a')).rejects.toBeInstanceOf(DecoderBusyError);
    accepted.push(p.decode(value, CONTENT_TYPE_PKCS12, {}, 'b'));
    await expect(p.decode(value, CONTENT_TYPE_PKCS12, {}, 'c')).rejects.toBeInstanceOf(DecoderBusyError);
    await Promise.all(accepted);
    expect(p.stats).toMatchObject({ decoded: 4, refused: 2 });
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { bundleFromKeyVaultSecret, CONTENT_TYPE_PEM, type TlsBundle } from '../pki/bundle.ts';
import { DecoderBusyError, DecodeStoppedError } from '../pki/decode-pool.ts';
import { PkiError } from '../pki/errors.ts';
import { makeChain, type TestChain } from '../pki/test-fixtures.ts';
import { BundleCache, type DecodeRequest } from './bundle-cache.ts';

let chain: TestChain;
let pem: string;
beforeAll(async () => {
  chain = await makeChain('EC', 'bundle cache');
  pem = chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem;
});

const request = (over: Partial<DecodeRequest> = {}): DecodeRequest => ({ vaultUrl: 'https://a.vault.azure.net', name: 'web', version: 'v1', contentType: CONTENT_TYPE_PEM, value: pem, owner: 'ns', ...over });

/** A cache over a counting decoder that answers `answer` (default: really decodes). */
function counting(answer?: () => Promise<TlsBundle>): { cache: BundleCache; calls: string[] } {
  const calls: string[] = [];
  const cache = new BundleCache((value, contentType, owner) => {
    calls.push(owner);
    return answer?.() ?? Promise.resolve(bundleFromKeyVaultSecret(value, contentType));
  });
  return { cache, calls };
}

describe('BundleCache', () => {
  it('decodes a version once: later and concurrent requests, from any owner, get the kept bundle', async () => {
    const { cache, calls } = counting();
    const [a, b] = await Promise.all([cache.get(request()), cache.get(request({ owner: 'other' }))]);
    const c = await cache.get(request({ vaultUrl: 'https://A.vault.azure.net/', name: 'WEB' }));
    expect(calls).toEqual(['ns']);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(cache.stats).toEqual({ hits: 1, shared: 1, decodes: 1 });
  });

  it('decodes again for another version, another vault, or other content under the same version', async () => {
    const { cache, calls } = counting();
    await cache.get(request());
    await cache.get(request({ version: 'v2' }));
    await cache.get(request({ vaultUrl: 'https://b.vault.azure.net' }));
    await cache.get(request({ value: chain.leaf.keyPem + chain.leaf.certPem }));
    expect(calls).toHaveLength(4);
  });

  it("keeps a content failure (one decode per hostile version), a stopped decode for a while, a busy decoder's refusal never", async () => {
    let now = 0;
    const errors: Record<string, PkiError> = { bad: new PkiError('BadPassword', 'wrong'), slow: new DecodeStoppedError('too long'), busy: new DecoderBusyError() };
    const calls: string[] = [];
    const cache = new BundleCache(
      (_value, _type, owner) => {
        calls.push(owner);
        return Promise.reject(errors[owner]!);
      },
      { stoppedTtlMs: 1000, now: () => now },
    );
    const get = (kind: string): Promise<TlsBundle> => cache.get(request({ version: kind, owner: kind }));
    for (let i = 0; i < 2; i++) {
      await expect(get('bad')).rejects.toMatchObject({ reason: 'BadPassword' });
      await expect(get('slow')).rejects.toBeInstanceOf(DecodeStoppedError);
      await expect(get('busy')).rejects.toBeInstanceOf(DecoderBusyError);
    }
    expect(calls).toEqual(['bad', 'slow', 'busy', 'busy']);
    now = 1001;
    for (const kind of ['bad', 'slow', 'busy']) await expect(get(kind)).rejects.toBeInstanceOf(PkiError);
    expect(calls).toEqual(['bad', 'slow', 'busy', 'busy', 'slow', 'busy']);
  });

  it('is bounded in bytes: the least recently used bundles go first', async () => {
    const one = bundleFromKeyVaultSecret(pem, CONTENT_TYPE_PEM);
    const calls: string[] = [];
    const cache = new BundleCache(
      (_value, _type, owner) => {
        calls.push(owner);
        return Promise.resolve(one);
      },
      { maxBytes: 3 * (one.certificateChainPem.length + (one.privateKeyPem?.length ?? 0) + 600) },
    );
    for (const v of ['1', '2', '3', '4']) await cache.get(request({ version: v, owner: v }));
    expect(cache.bytes).toBeLessThanOrEqual(3 * (one.certificateChainPem.length + (one.privateKeyPem?.length ?? 0) + 600));
    await cache.get(request({ version: '4', owner: 'again' }));
    await cache.get(request({ version: '1', owner: 'again' }));
    expect(calls).toEqual(['1', '2', '3', '4', 'again']);
  });
});

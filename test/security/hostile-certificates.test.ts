/**
 * Threat: a tenant's hostile certificate content (corpus/pki.ts: truncated, wrong password, huge
 * iteration counts, tampered MAC, no key, someone else's key, nested bags, unknown algorithms,
 * oversized, garbage PEM, too many certificates or blocks) crashes the controller's certificate
 * decoder, stalls it for the other tenants, or leaks its content through an error.
 *
 * Defence: the production decoder (src/pki/decode-pool.ts, a worker thread behind the iteration,
 * size and count limits of src/pki/limits.ts) ends every case in its typed reason, with kvsync's own
 * text, and keeps decoding the next tenant's certificate with the same worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_TYPE_PEM } from '../../src/pki/bundle.ts';
import { DecodePool } from '../../src/pki/decode-pool.ts';
import { makeChain } from '../../src/pki/test-fixtures.ts';
import { pkiCorpus, type PkiCorpusCase } from './corpus/pki.ts';

describe('threat: hostile certificate content crashes or stalls the decoder', () => {
  let cases: PkiCorpusCase[] = [];
  const pool = new DecodePool({ size: 1 });

  beforeAll(async () => {
    cases = await pkiCorpus();
  }, 120_000);

  afterAll(async () => {
    await pool.close();
  });

  it('ends each of at least 10 cases in its typed reason, then decodes a good certificate with the same worker', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
    const outcomes = await Promise.all(
      cases.map(async (c) => {
        try {
          await pool.decode(c.input, c.contentType, c.options ?? {}, c.name);
          return { name: c.name, reason: 'decoded', message: '' };
        } catch (err) {
          return { name: c.name, reason: (err as { reason?: string }).reason ?? `untyped ${String(err)}`, message: (err as Error).message };
        }
      }),
    );
    expect(outcomes.map((o) => `${o.name}: ${o.reason}`)).toEqual(cases.map((c) => `${c.name}: ${c.expectedReason}`));
    for (const o of outcomes) {
      // kvsync's own text: no base64 or PEM of the input comes back.
      expect(o.message).not.toMatch(/[A-Za-z0-9+/]{40,}|-----BEGIN/);
    }
    const chain = await makeChain('EC', 'after the corpus');
    const bundle = await pool.decode(chain.leaf.keyPem + chain.leaf.certPem, CONTENT_TYPE_PEM);
    expect(bundle.leaf.subject).toBe('CN=after the corpus leaf');
    expect(pool.stats).toMatchObject({ workersStarted: 1, stopped: 0 });
  });
});

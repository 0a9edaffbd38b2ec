import { beforeAll, describe, expect, it } from 'vitest';
import type { X509Certificate } from 'node:crypto';
import { dedupeCertificates, orderChain } from './chain.ts';
import { PkiError } from './errors.ts';
import { issue, makeChain, selfSigned, type Issued, type TestChain } from './test-fixtures.ts';

const subjects = (certs: X509Certificate[]): string[] => certs.map((c) => c.subject);

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('orderChain', () => {
  let rsa: TestChain;
  let ec: TestChain;
  let foreign: Issued;
  beforeAll(async () => {
    [rsa, ec] = await Promise.all([makeChain('RSA', 'rsa'), makeChain('EC', 'ec')]);
    foreign = await selfSigned('someone else', { keyType: 'EC' });
  });

  it('orders leaf → intermediate and finds the root for every input order, with and without the key', () => {
    for (const chain of [rsa, ec]) {
      for (const order of permutations([chain.root, chain.intermediate, chain.leaf])) {
        for (const key of [chain.leaf.key, undefined]) {
          const result = orderChain(order.map((i) => i.cert), key);
          expect(result.leaf.subject).toBe(chain.leaf.cert.subject);
          expect(subjects(result.intermediates)).toEqual([chain.intermediate.cert.subject]);
          expect(result.root?.subject).toBe(chain.root.cert.subject);
          expect(subjects(result.caCertificates)).toEqual([chain.root.cert.subject]);
          expect(result.unrelated).toEqual([]);
          expect(result.warnings).toEqual([]);
        }
      }
    }
  });

  it('drops a foreign certificate with a warning', () => {
    const result = orderChain([foreign.cert, rsa.intermediate.cert, rsa.leaf.cert], rsa.leaf.key);
    expect(subjects(result.intermediates)).toEqual([rsa.intermediate.cert.subject]);
    expect(result.root).toBeUndefined();
    expect(result.caCertificates).toEqual([]);
    expect(subjects(result.unrelated)).toEqual([foreign.cert.subject]);
    expect(result.warnings).toEqual(['dropped certificate "CN=someone else": not in the chain of "CN=rsa leaf"']);
  });

  it('without a key, picks the end of the longest chain when a foreign certificate could also be the leaf', () => {
    const result = orderChain([foreign.cert, rsa.root.cert, rsa.intermediate.cert, rsa.leaf.cert]);
    expect(result.leaf.subject).toBe('CN=rsa leaf');
    expect(result.warnings.some((w) => w.includes('could be the leaf'))).toBe(true);
    expect(subjects(result.unrelated)).toEqual(['CN=someone else']);
  });

  it('drops a root whose intermediate is missing (broken chain)', () => {
    const result = orderChain([rsa.root.cert, rsa.leaf.cert], rsa.leaf.key);
    expect(result.intermediates).toEqual([]);
    expect(result.root).toBeUndefined();
    expect(subjects(result.unrelated)).toEqual(['CN=rsa root']);
  });

  it('fails with KeyMismatch when the key belongs to no certificate', () => {
    const run = (): unknown => orderChain([rsa.leaf.cert, rsa.intermediate.cert], ec.leaf.key);
    expect(run).toThrow(PkiError);
    expect(run).toThrow(expect.objectContaining({ reason: 'KeyMismatch' }));
  });

  it('fails with InvalidCertificate for an empty list', () => {
    expect(() => orderChain([])).toThrow(expect.objectContaining({ reason: 'InvalidCertificate' }));
  });

  it('treats a self-signed leaf as its own root', () => {
    const result = orderChain([foreign.cert], foreign.key);
    expect(result.leaf.subject).toBe('CN=someone else');
    expect(result.intermediates).toEqual([]);
    expect(result.root?.subject).toBe('CN=someone else');
    expect(subjects(result.caCertificates)).toEqual(['CN=someone else']);
  });

  it('keeps a cross-signed intermediate and reports both roots as CA certificates', async () => {
    const r1 = await selfSigned('r1');
    const r0 = await selfSigned('r0');
    const r1CrossSigned = await issue('r1', r0, { keys: r1.keys });
    const inter = await issue('inter', r1);
    const leaf = await issue('leaf', inter, { ca: false });
    const result = orderChain([r1CrossSigned.cert, leaf.cert, r1.cert, r0.cert, inter.cert], leaf.key);
    expect(subjects(result.intermediates)).toEqual(['CN=inter', 'CN=r1']);
    expect(result.intermediates[1]!.issuer).toBe('CN=r0');
    expect(result.root?.subject).toBe('CN=r0');
    expect(subjects(result.caCertificates).sort()).toEqual(['CN=r0', 'CN=r1']);
    expect(result.unrelated).toEqual([]);
  });

  it('ends on a loop of certificates that sign each other', async () => {
    const x = await selfSigned('x');
    const y = await selfSigned('y');
    const xByY = await issue('x', y, { keys: x.keys });
    const yByX = await issue('y', x, { keys: y.keys });
    const leaf = await issue('looped leaf', x, { ca: false });
    const withLeaf = orderChain([yByX.cert, xByY.cert, leaf.cert], leaf.key);
    expect(subjects(withLeaf.intermediates)).toEqual(['CN=x', 'CN=y']);
    expect(withLeaf.root).toBeUndefined();

    const loopOnly = orderChain([xByY.cert, yByX.cert]);
    expect(loopOnly.warnings[0]).toMatch(/could not tell the leaf/);
    expect(loopOnly.leaf.subject).toBe('CN=x');
  });

  it('does not chain to a certificate that only has the right name', async () => {
    const impostorRoot = await selfSigned('rsa root');
    const impostorIntermediate = await issue('rsa intermediate', impostorRoot, { keyIdentifiers: false });
    const leafWithoutKeyIds = await issue('plain leaf', rsa.intermediate, { ca: false, keyIdentifiers: false });
    const result = orderChain([impostorIntermediate.cert, leafWithoutKeyIds.cert, rsa.intermediate.cert], leafWithoutKeyIds.key);
    expect(result.intermediates).toHaveLength(1);
    expect(result.intermediates[0]!.raw.equals(rsa.intermediate.certDer)).toBe(true);
    expect(result.unrelated.map((c) => c.raw.equals(impostorIntermediate.certDer))).toEqual([true]);
  });

  it('prefers the non-CA certificate when several match the key', async () => {
    const selfSignedTwin = await selfSigned('rsa leaf', { keys: rsa.leaf.keys });
    const result = orderChain([selfSignedTwin.cert, rsa.leaf.cert, rsa.intermediate.cert], rsa.leaf.key);
    expect(result.leaf.raw.equals(rsa.leaf.certDer)).toBe(true);
    expect(result.warnings.some((w) => w.includes('2 certificates match the private key'))).toBe(true);
  });
});

describe('dedupeCertificates', () => {
  it('keeps the first of byte-identical certificates', async () => {
    const a = await selfSigned('a', { keyType: 'EC' });
    const b = await selfSigned('b', { keyType: 'EC' });
    const { unique, duplicates } = dedupeCertificates([a.cert, b.cert, a.cert, a.cert]);
    expect(subjects(unique)).toEqual(['CN=a', 'CN=b']);
    expect(duplicates).toBe(2);
  });
});

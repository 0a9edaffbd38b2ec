/**
 * The chaos checker's rules, on states made here: a complete render passes; a missing key, a value the
 * vault never held, a key that does not match its certificate, a version going back and a growing RSS
 * are each caught (the planted violations the soak must never miss).
 */
import { describe, expect, it } from 'vitest';
import { checkRender, InvariantLedger, keyMatchesCertificate, memoryGrowth, VaultHistory, certificateToken, type Target } from '../../../chaos/lib/checker.ts';
import { planObjects, scheduleFaults, FAULT_KINDS, SHORT_RUN_KINDS } from '../../../chaos/lib/plan.ts';
import { SeededRandom } from '../../../chaos/lib/random.ts';
import { selfSigned } from '../../../src/pki/test-fixtures.ts';

const opaque: Target = { id: 'secret chaos/opaque-0', entries: [{ kind: 'value', key: 'a', object: 'a' }, { kind: 'value', key: 'b', object: 'b' }] };
const tls: Target = { id: 'secret chaos/tls-0', entries: [{ kind: 'tls-pair', certKey: 'tls.crt', keyKey: 'tls.key', object: 'c' }], optionalKeys: ['ca.crt'] };
const mount: Target = { id: 'mount m', entries: [{ kind: 'value', key: 'a', object: 'a' }, { kind: 'pem-bundle', key: 'c', object: 'c' }] };
const b = (s: string): Buffer => Buffer.from(s);

function history(): VaultHistory {
  const h = new VaultHistory();
  h.record('a', 'a-1');
  h.record('a', 'a-2');
  h.record('b', 'b-1');
  return h;
}

describe('render comparison', () => {
  it('passes a complete render of versions the vault held, mixed across objects', () => {
    const check = checkRender(opaque, { a: b('a-2'), b: b('b-1') }, history());
    expect(check.problems).toEqual([]);
    expect([...check.versions]).toEqual([['a', 1], ['b', 0]]);
  });

  it('catches a missing key, an unexpected key and a value the vault never held', () => {
    expect(checkRender(opaque, { a: b('a-1') }, history()).problems.map((p) => p.kind)).toEqual(['incomplete-render']);
    expect(checkRender(opaque, { a: b('a-1'), b: b('b-1'), c: b('x') }, history()).problems.map((p) => p.kind)).toEqual(['incomplete-render']);
    const unknown = checkRender(opaque, { a: b('a-1'), b: b('half-written') }, history()).problems;
    expect(unknown.map((p) => p.kind)).toEqual(['unknown-version']);
    // Evidence names a digest, never the value.
    expect(unknown[0]?.evidence).not.toContain('half-written');
    expect(unknown[0]?.evidence).toMatch(/sha256:[0-9a-f]{12}/);
  });
});

describe('key and certificate', () => {
  it('a TLS pair passes with its own key and is caught with another version\'s key', async () => {
    const v1 = await selfSigned('c-1', { keyType: 'EC', ca: false });
    const v2 = await selfSigned('c-2', { keyType: 'EC', ca: false });
    const h = history();
    h.record('c', certificateToken(v1.cert));
    h.record('c', certificateToken(v2.cert));
    expect(keyMatchesCertificate(v1.keyPem, v1.cert)).toBe(true);
    expect(keyMatchesCertificate(v2.keyPem, v1.cert)).toBe(false);
    expect(checkRender(tls, { 'tls.crt': b(v2.certPem), 'tls.key': b(v2.keyPem), 'ca.crt': b(v2.certPem) }, h).problems).toEqual([]);
    // The planted violation: version 2's certificate with version 1's key (a torn write).
    expect(checkRender(tls, { 'tls.crt': b(v2.certPem), 'tls.key': b(v1.keyPem) }, h).problems.map((p) => p.kind)).toEqual(['key-mismatch']);
    // A PEM bundle in a mounted file: key first, then the leaf.
    expect(checkRender(mount, { a: b('a-1'), c: b(v1.keyPem + v1.certPem) }, h).problems).toEqual([]);
    expect(checkRender(mount, { a: b('a-1'), c: b(v2.keyPem + v1.certPem) }, h).problems.map((p) => p.kind)).toEqual(['key-mismatch']);
    // A leaf the run never wrote.
    const stranger = await selfSigned('stranger', { keyType: 'EC', ca: false });
    expect(checkRender(tls, { 'tls.crt': b(stranger.certPem), 'tls.key': b(stranger.keyPem) }, h).problems.map((p) => p.kind)).toEqual(['unknown-version']);
    expect(checkRender(tls, { 'tls.crt': b(v1.certPem) }, h).problems.map((p) => p.kind)).toEqual(['incomplete-render', 'incomplete-render']);
  });
});

describe('the ledger', () => {
  it('catches a version going back and keeps one entry per target and kind', () => {
    const ledger = new InvariantLedger(history());
    ledger.observe(opaque, { a: b('a-2'), b: b('b-1') }, 1);
    expect(ledger.violations()).toEqual([]);
    ledger.observe(opaque, { a: b('a-1'), b: b('b-1') }, 2);
    ledger.observe(opaque, { a: b('a-1'), b: b('b-1') }, 3);
    expect(ledger.violations()).toEqual([{ kind: 'older-version', target: opaque.id, firstAtMs: 2, count: 2, evidence: expect.stringContaining('a went back from version #1 to #0') as string }]);
    expect(ledger.latest(opaque.id)).toMatchObject({ complete: true, atMs: 3 });
  });

  it('keeps a state holding an announced version until it is recorded, then judges it and what came after in order', async () => {
    const v1 = await selfSigned('c-1', { keyType: 'EC', ca: false });
    const v2 = await selfSigned('c-2', { keyType: 'EC', ca: false });
    const h = history();
    h.record('c', certificateToken(v1.cert));
    const ledger = new InvariantLedger(h);
    const pair = (v: typeof v1): Record<string, Buffer> => ({ 'tls.crt': b(v.certPem), 'tls.key': b(v.keyPem) });
    ledger.observe(tls, pair(v1), 1);
    // Key Vault completed version 2 (issued by Key Vault itself) before the run could read it.
    h.announce('c');
    ledger.observe(tls, pair(v2), 2);
    // A later state going back to version 1 waits too, so the order of judgement stays that of observation.
    ledger.observe(tls, pair(v1), 3);
    expect(ledger.violations()).toEqual([]);
    expect(ledger.latest(tls.id)?.atMs).toBe(1);
    h.record('c', certificateToken(v2.cert));
    h.settle('c');
    expect(ledger.violations().map((v) => [v.kind, v.firstAtMs])).toEqual([['older-version', 3]]);
    expect(ledger.latest(tls.id)).toMatchObject({ complete: true, atMs: 3 });
  });

  it('reports a state whose version was announced but never recorded, at the settle or at the flush', async () => {
    const stranger = await selfSigned('stranger', { keyType: 'EC', ca: false });
    const state = { 'tls.crt': b(stranger.certPem), 'tls.key': b(stranger.keyPem) };
    const h = history();
    const ledger = new InvariantLedger(h);
    h.announce('c');
    ledger.observe(tls, state, 1);
    expect(ledger.violations()).toEqual([]);
    h.settle('c');
    expect(ledger.violations().map((v) => v.kind)).toEqual(['unknown-version']);
    // Still announced when the run ends: flush judges it as the history stands.
    const h2 = history();
    const ledger2 = new InvariantLedger(h2);
    h2.announce('c');
    ledger2.observe(tls, state, 1);
    ledger2.flush();
    expect(ledger2.violations().map((v) => v.kind)).toEqual(['unknown-version']);
    // An unknown value of an object nobody announced is reported at once.
    const ledger3 = new InvariantLedger(history());
    ledger3.observe(opaque, { a: b('a-9'), b: b('b-1') }, 1);
    expect(ledger3.violations().map((v) => v.kind)).toEqual(['unknown-version']);
  });
});

describe('the memory-growth rule', () => {
  const MiB = 2 ** 20;
  const samples = (rss: (i: number) => number, n = 30): { atMs: number; rssBytes: number }[] => Array.from({ length: n }, (_, i) => ({ atMs: i * 5000, rssBytes: rss(i) }));

  it('lets a flat or sawtooth RSS pass and catches steady growth', () => {
    expect(memoryGrowth(samples(() => 100 * MiB))?.grew).toBe(false);
    // GC sawtooth: up to 16 MiB of young generation on top of a flat heap.
    expect(memoryGrowth(samples((i) => (100 + (i % 4) * 5) * MiB))?.grew).toBe(false);
    // A leak: 3 MiB more every sample, 90 MiB over the run.
    const leak = memoryGrowth(samples((i) => (100 + 3 * i) * MiB));
    expect(leak?.grew).toBe(true);
    expect(leak?.lastThirdMedianBytes).toBeGreaterThan(leak?.limitBytes ?? Infinity);
  });

  it('does not judge too few samples, nor samples spanning under two minutes', () => {
    expect(memoryGrowth(samples(() => 100 * MiB, 5))).toBeUndefined();
    expect(memoryGrowth(samples((i) => (100 + 3 * i) * MiB, 24))).toBeUndefined();
    expect(memoryGrowth(samples((i) => (100 + 3 * i) * MiB, 26))?.grew).toBe(true);
  });
});

describe('the plan', () => {
  it('is the same for the same seed, and a short run still sees every fault kind it draws', () => {
    const a = planObjects(new SeededRandom(7), 300, 4);
    expect(planObjects(new SeededRandom(7), 300, 4)).toEqual(a);
    expect(a.syncs).toHaveLength(300);
    expect(a.syncs.filter((s) => s.kind === 'tls')).toHaveLength(60);
    const faults = scheduleFaults(new SeededRandom(7), 75_000, 2, SHORT_RUN_KINDS);
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(SHORT_RUN_KINDS));
    expect(faults.every((f) => f.atMs <= 65_000)).toBe(true);
    expect(scheduleFaults(new SeededRandom(7), 75_000, 2, SHORT_RUN_KINDS)).toEqual(faults);
    // Whatever the seed: every kind fits in the first round, of the short run and of a 10-minute one.
    for (let seed = 0; seed < 200; seed++) {
      expect(new Set(scheduleFaults(new SeededRandom(seed), 75_000, 2, SHORT_RUN_KINDS).map((f) => f.kind)).size).toBe(SHORT_RUN_KINDS.length);
      expect(new Set(scheduleFaults(new SeededRandom(seed), 600_000, 4).map((f) => f.kind)).size).toBe(FAULT_KINDS.length);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { dataMac, macMatches, type MacSubject } from './mac.ts';

const key = Buffer.alloc(32, 7);
const at: MacSubject = { namespace: 'shop', name: 'shop-db', type: 'Opaque' };

describe('dataMac', () => {
  it('does not depend on key order', () => {
    const a = dataMac(key, at, { b: Buffer.from('2'), a: Buffer.from('1') });
    const b = dataMac(key, at, { a: Buffer.from('1'), b: Buffer.from('2') });
    expect(a).toBe(b);
    expect(a).toMatch(/^hmac-sha256-v2:[0-9a-f]{64}$/);
  });

  it('is keyed: another key gives another MAC, and it is not a plain hash of the value', () => {
    const data = { password: Buffer.from('hunter2') };
    expect(dataMac(key, at, data)).not.toBe(dataMac(Buffer.alloc(32, 8), at, data));
    const plain = createHash('sha256').update('hunter2').digest('hex');
    expect(dataMac(key, at, data)).not.toContain(plain);
  });

  it('binds the namespace, the Secret name and the Secret type: the same data elsewhere has another MAC', () => {
    const data = { password: Buffer.from('hunter2') };
    const mine = dataMac(key, at, data);
    expect(dataMac(key, { ...at, namespace: 'attacker' }, data)).not.toBe(mine);
    expect(dataMac(key, { ...at, name: 'other' }, data)).not.toBe(mine);
    expect(dataMac(key, { ...at, type: 'kubernetes.io/basic-auth' }, data)).not.toBe(mine);
    // The fields are length-prefixed: moving a character across a boundary is another subject.
    expect(dataMac(key, { namespace: 'ab', name: 'c', type: 'Opaque' }, data)).not.toBe(dataMac(key, { namespace: 'a', name: 'bc', type: 'Opaque' }, data));
  });

  it('separates keys from values unambiguously', () => {
    expect(dataMac(key, at, { ab: Buffer.from('c') })).not.toBe(dataMac(key, at, { a: Buffer.from('bc') }));
    expect(dataMac(key, at, { a: Buffer.from('') })).not.toBe(dataMac(key, at, {}));
  });

  it('treats strings and their UTF-8 bytes alike (ConfigMaps and Secrets)', () => {
    expect(dataMac(key, at, { k: 'välue' })).toBe(dataMac(key, at, { k: Buffer.from('välue', 'utf8') }));
  });
});

describe('macMatches', () => {
  const data = { password: Buffer.from('hunter2'), user: Buffer.from('app') };
  /** What releases before the binding wrote into status for `data` under `key` (data only). */
  const legacy = 'hmac-sha256:4e86c1026328910421e2b0326a186106ff31832de05e9e9933ec76e68f1088a5';

  it('accepts the current MAC of the same data and subject only', () => {
    const mac = dataMac(key, at, data);
    expect(macMatches(key, mac, at, data)).toBe(true);
    expect(macMatches(key, mac, { ...at, namespace: 'other' }, data)).toBe(false);
    expect(macMatches(key, mac, at, { ...data, password: Buffer.from('hunter3') })).toBe(false);
  });

  it('recognises a MAC an earlier release wrote (data only), so an upgrade is no data change', () => {
    expect(macMatches(key, legacy, at, data)).toBe(true);
    expect(macMatches(key, legacy, { ...at, namespace: 'anywhere' }, data)).toBe(true);
    expect(macMatches(key, legacy, at, { ...data, password: Buffer.from('hunter3') })).toBe(false);
  });

  it('refuses anything else: unknown forms, truncated MACs, another key', () => {
    const mac = dataMac(key, at, data);
    expect(macMatches(key, 'sha256:00', at, data)).toBe(false);
    expect(macMatches(key, mac.slice(0, -2), at, data)).toBe(false);
    expect(macMatches(Buffer.alloc(32, 8), mac, at, data)).toBe(false);
    expect(macMatches(key, '', at, data)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { dataMac } from './mac.ts';

const key = Buffer.alloc(32, 7);

describe('dataMac', () => {
  it('does not depend on key order', () => {
    const a = dataMac(key, { b: Buffer.from('2'), a: Buffer.from('1') });
    const b = dataMac(key, { a: Buffer.from('1'), b: Buffer.from('2') });
    expect(a).toBe(b);
    expect(a).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });

  it('is keyed: another key gives another MAC, and it is not a plain hash of the value', () => {
    const data = { password: Buffer.from('hunter2') };
    expect(dataMac(key, data)).not.toBe(dataMac(Buffer.alloc(32, 8), data));
    const plain = createHash('sha256').update('hunter2').digest('hex');
    expect(dataMac(key, data)).not.toContain(plain);
  });

  it('separates keys from values unambiguously', () => {
    expect(dataMac(key, { ab: Buffer.from('c') })).not.toBe(dataMac(key, { a: Buffer.from('bc') }));
    expect(dataMac(key, { a: Buffer.from('') })).not.toBe(dataMac(key, {}));
  });

  it('treats strings and their UTF-8 bytes alike (ConfigMaps and Secrets)', () => {
    expect(dataMac(key, { k: 'välue' })).toBe(dataMac(key, { k: Buffer.from('välue', 'utf8') }));
  });
});

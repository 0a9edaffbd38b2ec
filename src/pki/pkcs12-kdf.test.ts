import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { pkcs12Kdf, type Pkcs12KdfDigest } from './pkcs12-kdf.ts';

const forgeMd = { sha1: forge.md.sha1, sha256: forge.md.sha256, sha384: forge.md.sha384, sha512: forge.md.sha512 } as const;

describe('pkcs12Kdf', () => {
  it('matches node-forge byte for byte (passwords null, "", ASCII, non-ASCII; every digest, id and length)', () => {
    const passwords = [null, '', 'changeit', 'Pa55 wörd ✓'];
    for (const digest of Object.keys(forgeMd) as Pkcs12KdfDigest[]) {
      for (const password of passwords) {
        for (const id of [1, 2, 3] as const) {
          for (const length of [8, 20, 24, 33, 64, 100]) {
            const salt = randomBytes(1 + (length % 21));
            const iterations = 1 + (length % 7);
            const expected = forge.pkcs12
              .generateKey(password, forge.util.createBuffer(salt.toString('binary')), id, iterations, length, forgeMd[digest].create())
              .getBytes();
            expect(pkcs12Kdf(password, salt, id, iterations, length, digest).toString('binary'), `${digest} ${password} ${id} ${length}`).toBe(expected);
          }
        }
      }
    }
  });

  it('refuses fewer than one iteration', () => {
    expect(() => pkcs12Kdf('x', Buffer.alloc(8), 1, 0, 24, 'sha1')).toThrow(RangeError);
  });
});

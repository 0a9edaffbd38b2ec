import forge from 'node-forge';
import { createSecureContext } from 'node:tls';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { pinnedDependency } from '../util/testing/pinned-dependency.ts';
import { DEFAULT_PKI_LIMITS, resolveLimits } from './limits.ts';
import { decodePfx } from './pfx.ts';
import { writePfx } from './pfx-writer.ts';
import { makeChain, opensslPkcs12, type TestChain } from './test-fixtures.ts';

const limits = DEFAULT_PKI_LIMITS;
const pkcs8 = (chain: TestChain) => chain.leaf.key.export({ format: 'der', type: 'pkcs8' });

/** The PFX flavours users bring, made with the real openssl CLI. */
const OPENSSL_FLAVOURS: { name: string; args: string[]; password: string }[] = [
  { name: 'OpenSSL 3 default (PBES2/AES-256, SHA-256 MAC), empty password', args: [], password: '' },
  { name: 'OpenSSL 3 default with a password', args: [], password: 'Pa55 wörd!' },
  { name: 'legacy RC2-40 certs + 3DES key (-legacy)', args: ['-legacy'], password: '' },
  { name: 'PBE-SHA1-3DES with SHA-1 MAC', args: ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'], password: 'x' },
  { name: 'unencrypted (-keypbe NONE -certpbe NONE): keyBag', args: ['-keypbe', 'NONE', '-certpbe', 'NONE'], password: '' },
  { name: 'no MAC (-nomac), legacy encryption with the empty password', args: ['-nomac', '-legacy'], password: '' },
  { name: 'no MAC (-nomac), PBES2 with a password', args: ['-nomac'], password: 'no-mac' },
];

describe('decodePfx', () => {
  let rsa: TestChain;
  let ec: TestChain;
  beforeAll(async () => {
    [rsa, ec] = await Promise.all([makeChain('RSA'), makeChain('EC')]);
  });

  for (const flavour of OPENSSL_FLAVOURS) {
    it(`reads ${flavour.name}, RSA and EC, with original certificate bytes`, () => {
      for (const chain of [rsa, ec]) {
        const pfx = opensslPkcs12(chain.leaf.keyPem, chain.leaf.certPem + chain.intermediate.certPem + chain.root.certPem, flavour.password, flavour.args);
        const contents = decodePfx(pfx, flavour.password === '' ? undefined : flavour.password, limits);
        expect(contents.privateKeys).toHaveLength(1);
        expect(contents.privateKeys[0]!.equals(pkcs8(chain))).toBe(true);
        const expected = [chain.leaf.certDer, chain.intermediate.certDer, chain.root.certDer].map((d) => d.toString('hex')).sort();
        expect(contents.certificates.map((d) => d.toString('hex')).sort()).toEqual(expected);
      }
    });
  }

  it('tries the next password candidate when a wrong one decrypts to garbage (no MAC to tell them apart)', () => {
    const pfx = opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, '', ['-nomac', '-legacy']);
    // What one wrong key in 256 does without a MAC: valid padding, then content that is not ASN.1.
    const real = forge.pkcs12.pkcs12FromAsn1.bind(forge.pkcs12);
    const spy = vi.spyOn(forge.pkcs12, 'pkcs12FromAsn1').mockImplementation(((asn1: forge.asn1.Asn1, strict: boolean, password?: string) => {
      if (password === undefined) throw new Error('Too few bytes to parse DER.');
      return real(asn1, strict, password);
    }) as typeof forge.pkcs12.pkcs12FromAsn1);
    try {
      const contents = decodePfx(pfx, undefined, limits);
      expect(contents.privateKeys[0]!.equals(pkcs8(rsa))).toBe(true);
      expect(spy.mock.calls.map((c) => (c as unknown[])[2])).toEqual([undefined, '']);
    } finally {
      spy.mockRestore();
    }
  });

  it('reads a password-protected PFX only with its password', () => {
    const pfx = opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, 's3cret');
    expect(decodePfx(pfx, 's3cret', limits).privateKeys).toHaveLength(1);
    for (const wrong of [undefined, '', 'S3cret']) {
      expect(() => decodePfx(pfx, wrong, limits)).toThrow(
        expect.objectContaining({ reason: 'BadPassword', message: 'PKCS#12 password is wrong (MAC or decryption failed)' }),
      );
    }
  });

  it('reads a Key-Vault-style PFX (3DES, SHA-1 MAC, NULL password) that opens only with no password', () => {
    const pfx = writePfx([rsa.leaf.certDer, rsa.intermediate.certDer], pkcs8(rsa), { password: null, iterations: 2000 });
    // It really is a null-password file: forge refuses the empty password "" (a different MAC key)…
    const asn1 = forge.asn1.fromDer(pfx.toString('binary'));
    expect(() => forge.pkcs12.pkcs12FromAsn1(asn1, false, '')).toThrow(/MAC could not be verified/);
    expect(forge.pkcs12.pkcs12FromAsn1(asn1, false).safeContents.some((s) => s.encrypted)).toBe(true);
    // …and decodePfx opens it without a password, or with "" (it falls back to null as OpenSSL does).
    for (const password of [undefined, '']) {
      const contents = decodePfx(pfx, password, limits);
      expect(contents.certificates[0]!.equals(rsa.leaf.certDer)).toBe(true);
      expect(contents.privateKeys[0]!.equals(pkcs8(rsa))).toBe(true);
    }
    expect(() => decodePfx(pfx, 'something', limits)).toThrow(expect.objectContaining({ reason: 'BadPassword' }));
    // Node's TLS stack (OpenSSL) accepts the same file.
    expect(() => createSecureContext({ pfx })).not.toThrow();
  });

  it('reads a certificate-only PFX', () => {
    const pfx = opensslPkcs12(undefined, ec.leaf.certPem + ec.intermediate.certPem, '');
    const contents = decodePfx(pfx, undefined, limits);
    expect(contents.privateKeys).toEqual([]);
    expect(contents.certificates).toHaveLength(2);
  });

  it('bounds the iteration count of each derivation and of the whole decode', () => {
    const pfx = opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, '', ['-iter', '5000', '-maciter']);
    expect(() => decodePfx(pfx, undefined, resolveLimits({ maxPbeIterations: 4999 }))).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded', message: 'PKCS#12 iteration count 5000 exceeds the limit of 4999' }),
    );
    // null password (MAC 5000) fails, "" (MAC 5000) passes, then two PBES2 decryptions of 5000 each.
    expect(decodePfx(pfx, undefined, resolveLimits({ maxTotalPbeIterations: 20_000 })).privateKeys).toHaveLength(1);
    expect(() => decodePfx(pfx, undefined, resolveLimits({ maxTotalPbeIterations: 19_999 }))).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded', message: 'PKCS#12 key derivations exceed the total limit of 19999 iterations' }),
    );
    expect(() => decodePfx(opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, '', ['-iter', '150000']), undefined, limits)).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded' }),
    );
  });

  it('fails loudly when the node-forge internals it patches change (hook points, pinned version)', () => {
    const patch = 'pfx.ts patches node-forge at runtime (pkcs12.generateKey, pki.pbe.generatePkcs12Key, pkcs5.pbkdf2, pki.certificateFromAsn1, pki.privateKeyFromAsn1)';
    const { pinned, installed } = pinnedDependency('node-forge');
    expect(pinned, `${patch}: pin an exact version in package.json`).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed, `${patch}: the installed version is not the pinned one; re-check the patch`).toBe(pinned);
    const arity = (f: unknown): number | string => (typeof f === 'function' ? f.length : typeof f);
    expect(
      {
        generateKey: arity(forge.pkcs12.generateKey),
        generatePkcs12Key: arity((forge.pki as unknown as { pbe: { generatePkcs12Key: unknown } }).pbe.generatePkcs12Key),
        pbkdf2: arity(forge.pkcs5.pbkdf2),
        certificateFromAsn1: arity(forge.pki.certificateFromAsn1),
        privateKeyFromAsn1: arity(forge.pki.privateKeyFromAsn1),
      },
      `${patch}: a hook point is gone or its parameters changed`,
    ).toEqual({ generateKey: 6, generatePkcs12Key: 6, pbkdf2: 6, certificateFromAsn1: 2, privateKeyFromAsn1: 1 });
  });

  it('restores node-forge after decoding, also after an error', () => {
    const before = [forge.pkcs12.generateKey, forge.pkcs5.pbkdf2, forge.pki.certificateFromAsn1, forge.pki.privateKeyFromAsn1];
    decodePfx(opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, ''), undefined, limits);
    expect(() => decodePfx(opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, 'p'), 'q', limits)).toThrow();
    expect([forge.pkcs12.generateKey, forge.pkcs5.pbkdf2, forge.pki.certificateFromAsn1, forge.pki.privateKeyFromAsn1]).toEqual(before);
  });

  it('rejects truncated and garbage input as InvalidCertificate', () => {
    const pfx = opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, '');
    expect(() => decodePfx(pfx.subarray(0, pfx.length - 100), undefined, limits)).toThrow(expect.objectContaining({ reason: 'InvalidCertificate' }));
    expect(() => decodePfx(Buffer.from('30ff', 'hex'), undefined, limits)).toThrow(
      expect.objectContaining({ reason: 'InvalidCertificate', message: 'input is not valid DER (truncated or corrupt PKCS#12 file?)' }),
    );
    expect(() => decodePfx(Buffer.from('3003020103', 'hex'), undefined, limits)).toThrow(expect.objectContaining({ reason: 'InvalidCertificate' }));
    const flipped = Buffer.from(pfx);
    flipped[flipped.length - 30]! ^= 0xff; // inside the MAC digest
    expect(() => decodePfx(flipped, undefined, limits)).toThrow(expect.objectContaining({ reason: 'BadPassword' }));
  });
});

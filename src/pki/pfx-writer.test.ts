import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PKI_LIMITS } from './limits.ts';
import { decodePfx } from './pfx.ts';
import { writePfx, type PfxWriteOptions } from './pfx-writer.ts';
import { makeChain, type TestChain } from './test-fixtures.ts';

/** Asks the openssl CLI to open the file: proves the output is standard PKCS#12, not just forge-readable. */
function opensslReads(pfx: Buffer, password: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvsync-pfxw-'));
  try {
    const file = join(dir, 'x.pfx');
    writeFileSync(file, pfx);
    return execFileSync('/usr/bin/openssl', ['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nodes'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('writePfx', () => {
  let rsa: TestChain;
  let ec: TestChain;
  beforeAll(async () => {
    [rsa, ec] = await Promise.all([makeChain('RSA'), makeChain('EC')]);
  });

  const profiles: { name: string; opts: PfxWriteOptions; password: string | undefined }[] = [
    { name: 'Key Vault style (3DES, null password)', opts: {}, password: undefined },
    { name: 'AES-256 with a password', opts: { password: 'tr0ub4dor' }, password: 'tr0ub4dor' },
    { name: 'AES-256 with the empty password', opts: { password: '' }, password: '' },
    { name: '3DES with a password', opts: { password: 'pw', encryption: '3des' }, password: 'pw' },
    { name: 'unencrypted', opts: { password: '', encryption: 'none' }, password: '' },
  ];
  for (const profile of profiles) {
    it(`round-trips ${profile.name} for RSA and EC, readable by openssl and Node's TLS`, () => {
      for (const chain of [rsa, ec]) {
        const key = chain.leaf.key.export({ format: 'der', type: 'pkcs8' });
        const pfx = writePfx([chain.leaf.certDer, chain.intermediate.certDer], key, { ...profile.opts, friendlyName: 'shop' });
        const contents = decodePfx(pfx, profile.password, DEFAULT_PKI_LIMITS);
        expect(contents.certificates.map((c) => c.toString('hex'))).toEqual([chain.leaf.certDer.toString('hex'), chain.intermediate.certDer.toString('hex')]);
        expect(contents.privateKeys[0]!.equals(key)).toBe(true);
        const text = opensslReads(pfx, profile.password ?? '');
        expect(text).toContain('BEGIN PRIVATE KEY');
        expect(text).toContain('friendlyName: shop');
        expect(() => createSecureContext({ pfx, ...(profile.password !== undefined ? { passphrase: profile.password } : {}) })).not.toThrow();
      }
    });
  }

  it('writes a certificate-only PFX', () => {
    const pfx = writePfx([rsa.leaf.certDer], undefined);
    const contents = decodePfx(pfx, undefined, DEFAULT_PKI_LIMITS);
    expect(contents.privateKeys).toEqual([]);
    expect(contents.certificates).toHaveLength(1);
  });

  it('stores the chain root first on request, keeping the key paired with the leaf', () => {
    const key = rsa.leaf.key.export({ format: 'der', type: 'pkcs8' });
    const chain = [rsa.leaf.certDer, rsa.intermediate.certDer, rsa.root.certDer];
    const pfx = writePfx(chain, key, { iterations: 2000, certificateOrder: 'root-first' });
    const contents = decodePfx(pfx, undefined, DEFAULT_PKI_LIMITS);
    expect(contents.certificates.map((c) => c.toString('hex'))).toEqual([...chain].reverse().map((c) => c.toString('hex')));
    expect(() => createSecureContext({ pfx })).not.toThrow();
    expect(opensslReads(pfx, '')).toContain('BEGIN PRIVATE KEY');
  });

  it('refuses AES with no password at all', () => {
    expect(() => writePfx([rsa.leaf.certDer], undefined, { password: null, encryption: 'aes256' })).toThrow(
      expect.objectContaining({ reason: 'UnsupportedFormat' }),
    );
  });
});

import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleFromFile, bundleFromKeyVaultSecret, CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12, pfxFromBundle, withBundleOptions, type TlsBundle } from './bundle.ts';
import { PkiError } from './errors.ts';
import { splitPem } from './pem.ts';
import { writePfx } from './pfx-writer.ts';
import { issue, makeChain, opensslPkcs12, selfSigned, type Issued, type TestChain } from './test-fixtures.ts';

const pemCerts = (bundlePem: string | undefined): string[] => splitPem(bundlePem ?? '', 100).map((b) => b.der.toString('hex'));
const hex = (...issued: Issued[]): string[] => issued.map((i) => i.certDer.toString('hex'));

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

function expectChain(bundle: TlsBundle, chain: TestChain): void {
  expect(pemCerts(bundle.certificateChainPem)).toEqual(hex(chain.leaf, chain.intermediate));
  expect(pemCerts(bundle.caPem)).toEqual(hex(chain.root));
  expect(bundle.privateKeyPem).toBe(chain.leaf.keyPem);
  expect(bundle.leaf.subject).toBe(chain.leaf.cert.subject);
  expect(bundle.chainLength).toBe(2);
}

describe('bundleFromKeyVaultSecret', () => {
  let rsa: TestChain;
  let ec: TestChain;
  beforeAll(async () => {
    [rsa, ec] = await Promise.all([makeChain('RSA'), makeChain('EC')]);
  });

  it('withBundleOptions derives exactly the bundle that decoding with those options builds', () => {
    for (const chain of [rsa, ec]) {
      const traditional = chain === rsa ? 'pkcs1' : 'sec1';
      for (const value of [chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem + chain.root.certPem, chain.leaf.certPem]) {
        const base = bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM);
        for (const keyFormat of ['pkcs8', traditional] as const) {
          for (const includeRoot of [false, true]) {
            const opts = { keyFormat, includeRoot };
            const derived = withBundleOptions(base, opts);
            expect(derived).toEqual(bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM, opts));
            if (keyFormat === 'pkcs8') expect(withBundleOptions(derived, {})).toEqual(base);
          }
        }
      }
    }
    const ecBundle = bundleFromKeyVaultSecret(ec.leaf.keyPem + ec.leaf.certPem, CONTENT_TYPE_PEM);
    expect(() => withBundleOptions(ecBundle, { keyFormat: 'pkcs1' })).toThrow(expect.objectContaining({ reason: 'UnsupportedKeyFormat' }) as Error);
  });

  it('reads application/x-pkcs12: base64 of a Key Vault PFX (NULL password, root first)', () => {
    for (const chain of [rsa, ec]) {
      const pfx = writePfx([chain.root.certDer, chain.intermediate.certDer, chain.leaf.certDer], chain.leaf.key.export({ format: 'der', type: 'pkcs8' }));
      const bundle = bundleFromKeyVaultSecret(pfx.toString('base64'), CONTENT_TYPE_PKCS12);
      expectChain(bundle, chain);
      expect(bundle.sourceFormat).toBe('pkcs12');
      expect(bundle.warnings).toEqual([]);
      expect(bundle.leaf).toMatchObject({ dnsNames: ['localhost', 'shop.example'], keyType: chain === rsa ? 'RSA' : 'EC' });
    }
  });

  it('reads application/x-pem-file as Key Vault writes it (PKCS#8 key, then leaf → root)', () => {
    const value = rsa.leaf.keyPem + rsa.leaf.certPem + rsa.intermediate.certPem + rsa.root.certPem;
    const bundle = bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM);
    expectChain(bundle, rsa);
    expect(bundle.sourceFormat).toBe('pem');
  });

  it('reads PEM blocks in every order, with CRLF and junk between blocks', () => {
    const blocks = [ec.leaf.keyPem, ec.leaf.certPem, ec.intermediate.certPem, ec.root.certPem];
    for (const order of permutations(blocks)) {
      const value = ('# exported\n' + order.join('some junk text\n')).replaceAll('\n', '\r\n');
      expectChain(bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM), ec);
    }
  });

  it('sniffs the content when the content type is missing or unknown', () => {
    const pfx = opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem + rsa.intermediate.certPem + rsa.root.certPem, '');
    expectChain(bundleFromKeyVaultSecret(pfx.toString('base64'), undefined), rsa);
    expectChain(bundleFromKeyVaultSecret(rsa.leaf.keyPem + rsa.intermediate.certPem + rsa.leaf.certPem + rsa.root.certPem, 'text/plain'), rsa);
  });

  it('refuses a value that does not match its content type', () => {
    expect(() => bundleFromKeyVaultSecret('not base64 at all!', CONTENT_TYPE_PKCS12)).toThrow(expect.objectContaining({ reason: 'UnsupportedFormat' }));
    expect(() => bundleFromKeyVaultSecret('plain text', CONTENT_TYPE_PEM)).toThrow(expect.objectContaining({ reason: 'UnsupportedFormat' }));
  });

  it('appends the root to tls.crt only with includeRoot', () => {
    const value = rsa.leaf.keyPem + rsa.root.certPem + rsa.leaf.certPem + rsa.intermediate.certPem;
    const bundle = bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM, { includeRoot: true });
    expect(pemCerts(bundle.certificateChainPem)).toEqual(hex(rsa.leaf, rsa.intermediate, rsa.root));
    expect(bundle.chainLength).toBe(3);
  });

  it('writes the key as PKCS#1 or SEC1 on request, and refuses the wrong one for the key type', () => {
    const rsaValue = rsa.leaf.keyPem + rsa.leaf.certPem;
    const ecValue = ec.leaf.keyPem + ec.leaf.certPem;
    expect(bundleFromKeyVaultSecret(rsaValue, CONTENT_TYPE_PEM, { keyFormat: 'pkcs1' }).privateKeyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(bundleFromKeyVaultSecret(ecValue, CONTENT_TYPE_PEM, { keyFormat: 'sec1' }).privateKeyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(() => bundleFromKeyVaultSecret(ecValue, CONTENT_TYPE_PEM, { keyFormat: 'pkcs1' })).toThrow(expect.objectContaining({ reason: 'UnsupportedKeyFormat' }));
    expect(() => bundleFromKeyVaultSecret(rsaValue, CONTENT_TYPE_PEM, { keyFormat: 'sec1' })).toThrow(expect.objectContaining({ reason: 'UnsupportedKeyFormat' }));
  });

  it('accepts PKCS#1 and SEC1 input keys', () => {
    const pkcs1 = rsa.leaf.key.export({ format: 'pem', type: 'pkcs1' }) as string;
    const sec1 = ec.leaf.key.export({ format: 'pem', type: 'sec1' }) as string;
    expect(bundleFromKeyVaultSecret(rsa.leaf.certPem + pkcs1, undefined).privateKeyPem).toBe(rsa.leaf.keyPem);
    // openssl ecparam -genkey writes an "EC PARAMETERS" block first; it is skipped without a warning.
    const ecparams = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n';
    const bundle = bundleFromKeyVaultSecret(ecparams + sec1 + ec.leaf.certPem, undefined);
    expect(bundle.privateKeyPem).toBe(ec.leaf.keyPem);
    expect(bundle.warnings).toEqual([]);
  });

  it('builds a key-less bundle from public certificates, unless a key is required', () => {
    const value = rsa.intermediate.certPem + rsa.leaf.certPem;
    const bundle = bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM);
    expect(bundle.privateKeyPem).toBeUndefined();
    expect(bundle.caPem).toBeUndefined();
    expect(pemCerts(bundle.certificateChainPem)).toEqual(hex(rsa.leaf, rsa.intermediate));
    expect(() => bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM, { requirePrivateKey: true })).toThrow(
      expect.objectContaining({ reason: 'NoPrivateKey' }),
    );
  });

  it('drops foreign certificates and duplicates with warnings', async () => {
    const foreign = await selfSigned('stranger');
    const value = rsa.leaf.keyPem + rsa.leaf.certPem + foreign.certPem + rsa.intermediate.certPem + rsa.leaf.certPem;
    const bundle = bundleFromKeyVaultSecret(value, CONTENT_TYPE_PEM);
    expect(pemCerts(bundle.certificateChainPem)).toEqual(hex(rsa.leaf, rsa.intermediate));
    expect(bundle.warnings).toEqual(['removed 1 duplicate certificate(s)', 'dropped certificate "CN=stranger": not in the chain of "CN=kvsync test leaf"']);
  });

  it('fails with KeyMismatch when the key is not the leaf key', () => {
    expect(() => bundleFromKeyVaultSecret(ec.leaf.keyPem + rsa.leaf.certPem + rsa.intermediate.certPem, CONTENT_TYPE_PEM)).toThrow(
      expect.objectContaining({ reason: 'KeyMismatch' }),
    );
  });

  it('refuses two different private keys', () => {
    expect(() => bundleFromKeyVaultSecret(rsa.leaf.keyPem + rsa.root.keyPem + rsa.leaf.certPem, CONTENT_TYPE_PEM)).toThrow(
      expect.objectContaining({ reason: 'UnsupportedFormat', message: 'the bundle contains 2 different private keys; expected one' }),
    );
    // The same key twice (PKCS#8 and PKCS#1) is one key.
    const pkcs1 = rsa.leaf.key.export({ format: 'pem', type: 'pkcs1' }) as string;
    expect(bundleFromKeyVaultSecret(rsa.leaf.keyPem + pkcs1 + rsa.leaf.certPem, CONTENT_TYPE_PEM).privateKeyPem).toBe(rsa.leaf.keyPem);
  });

  it('gives a self-signed leaf (Key Vault "Self" issuer, no keyCertSign) as its own ca.crt', async () => {
    const self = await selfSigned('self.example', { ca: false, keyType: 'EC', dnsNames: ['self.example'] });
    const bundle = bundleFromKeyVaultSecret(self.keyPem + self.certPem, CONTENT_TYPE_PEM);
    expect(pemCerts(bundle.certificateChainPem)).toEqual(hex(self));
    expect(pemCerts(bundle.caPem)).toEqual(hex(self));
    expect(pemCerts(bundleFromKeyVaultSecret(self.keyPem + self.certPem, CONTENT_TYPE_PEM, { includeRoot: true }).certificateChainPem)).toEqual(hex(self));
  });

  it('warns about an expired leaf', async () => {
    const old = await issue('old leaf', rsa.intermediate, { ca: false, notBefore: new Date('2020-01-01'), notAfter: new Date('2021-01-01') });
    const bundle = bundleFromKeyVaultSecret(old.keyPem + old.certPem, CONTENT_TYPE_PEM);
    expect(bundle.leaf.notAfter.toISOString()).toBe('2021-01-01T00:00:00.000Z');
    expect(bundle.warnings).toEqual(['leaf certificate "CN=old leaf" expired at 2021-01-01T00:00:00.000Z']);
  });

  it('bounds input size and certificate count', () => {
    const big = 'x'.repeat(300 * 1024);
    expect(() => bundleFromKeyVaultSecret(big, CONTENT_TYPE_PEM)).toThrow(expect.objectContaining({ reason: 'LimitExceeded' }));
    expect(() => bundleFromFile(Buffer.alloc(2000, 0x30), { limits: { maxInputBytes: 1000 } })).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded', message: 'input is 2000 bytes; the limit is 1000' }),
    );
    const many = rsa.leaf.certPem.repeat(5);
    expect(() => bundleFromKeyVaultSecret(many, CONTENT_TYPE_PEM, { limits: { maxCertificates: 4 } })).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded', message: 'bundle has more than 4 certificates' }),
    );
  });
});

describe('bundleFromFile', () => {
  let ec: TestChain;
  beforeAll(async () => {
    ec = await makeChain('EC');
  });

  it('reads a DER PKCS#12 file, a PEM file, a DER certificate and a base64 PFX', () => {
    const pfx = opensslPkcs12(ec.leaf.keyPem, ec.root.certPem + ec.intermediate.certPem + ec.leaf.certPem, 'pw');
    expectChain(bundleFromFile(pfx, { password: 'pw' }), ec);
    expectChain(bundleFromFile(Buffer.from(pfx.toString('base64') + '\n'), { password: 'pw' }), ec);
    expectChain(bundleFromFile(Buffer.from(ec.intermediate.certPem + ec.leaf.keyPem + ec.root.certPem + ec.leaf.certPem)), ec);
    const der = bundleFromFile(ec.leaf.certDer);
    expect(der.sourceFormat).toBe('der');
    expect(der.privateKeyPem).toBeUndefined();
    expect(pemCerts(der.certificateChainPem)).toEqual(hex(ec.leaf));
  });

  it('classifies bad input', () => {
    const pfx = opensslPkcs12(ec.leaf.keyPem, ec.leaf.certPem, 'pw');
    const cases: [Buffer, string][] = [
      [Buffer.alloc(0), 'UnsupportedFormat'],
      [Buffer.from([0x00, 0x01, 0x02, 0xff]), 'UnsupportedFormat'],
      [Buffer.from('hello world\n'), 'UnsupportedFormat'],
      [pfx.subarray(0, 200), 'InvalidCertificate'],
      [Buffer.from(ec.leaf.certPem.slice(0, 200)), 'InvalidCertificate'],
      [Buffer.from(ec.leaf.keyPem.replace('M', '*') + ec.leaf.certPem), 'InvalidPrivateKey'],
      [Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'InvalidCertificate'],
      [pfx, 'BadPassword'],
    ];
    for (const [input, reason] of cases) {
      expect(() => bundleFromFile(input), reason).toThrow(expect.objectContaining({ reason }));
    }
    expect(() => bundleFromFile(pfx, { password: 'wrong' })).toThrow(expect.objectContaining({ reason: 'BadPassword' }));
  });

  it('never puts key material or the password into an error', async () => {
    const rsa = await makeChain('RSA');
    const password = 'Sup3r-Secret-Passw0rd';
    const keyBodies = [rsa.leaf.keyPem, ec.leaf.keyPem, rsa.root.keyPem].map((pem) => pem.split('\n').slice(1, -2).join(''));
    const pfx = opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, password);
    const encryptedKey = rsa.leaf.key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: password }) as string;
    const attempts: (() => unknown)[] = [
      () => bundleFromFile(pfx, { password: password + 'x' }),
      () => bundleFromFile(pfx),
      () => bundleFromFile(Buffer.from(ec.leaf.keyPem + rsa.leaf.certPem), { password }),
      () => bundleFromFile(Buffer.from(rsa.leaf.keyPem.slice(0, 400)), { password }),
      () => bundleFromFile(Buffer.from(rsa.leaf.keyPem.replace(/[A-Za-z]{10}/, '!!!!!!!!!!') + rsa.leaf.certPem)),
      () => bundleFromFile(Buffer.from(encryptedKey + rsa.leaf.certPem), { password: 'nope' }),
      () => bundleFromFile(Buffer.from(rsa.leaf.keyPem + rsa.root.keyPem + rsa.leaf.certPem), { password }),
      () => bundleFromFile(Buffer.from(rsa.leaf.keyPem), { password }),
      () => bundleFromKeyVaultSecret(ec.leaf.keyPem + ec.leaf.certPem, CONTENT_TYPE_PEM, { keyFormat: 'pkcs1', password }),
      () => bundleFromKeyVaultSecret(pfx.toString('base64'), CONTENT_TYPE_PKCS12, { password: password.toLowerCase() }),
    ];
    for (const attempt of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(PkiError);
      const rendered = [inspect(caught, { showHidden: true, depth: null }), JSON.stringify(caught), String(caught)].join('\n');
      expect((caught as Error).cause).toBeUndefined();
      expect(rendered).not.toContain(password);
      expect(rendered).not.toContain('PRIVATE KEY-----');
      for (const body of keyBodies) {
        for (let i = 0; i + 24 <= body.length; i += 24) expect(rendered).not.toContain(body.slice(i, i + 24));
      }
    }
  });
});

describe('pfxFromBundle', () => {
  it('round-trips a bundle through PKCS#12 (Key Vault style by default, or with a password)', async () => {
    const ec = await makeChain('EC');
    const bundle = bundleFromFile(Buffer.from(ec.leaf.keyPem + ec.leaf.certPem + ec.intermediate.certPem + ec.root.certPem), { keyFormat: 'sec1' });
    for (const [opts, password] of [[{}, undefined], [{ password: 'pw' }, 'pw']] as const) {
      const again = bundleFromFile(pfxFromBundle(bundle, opts), { password, keyFormat: 'sec1' });
      expect(again.certificateChainPem).toBe(bundle.certificateChainPem);
      expect(again.privateKeyPem).toBe(bundle.privateKeyPem);
    }
    const keyless = bundleFromFile(Buffer.from(ec.leaf.certPem));
    expect(bundleFromFile(pfxFromBundle(keyless)).privateKeyPem).toBeUndefined();
  });
});

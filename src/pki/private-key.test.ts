import { beforeAll, describe, expect, it } from 'vitest';
import { splitPem } from './pem.ts';
import { exportPrivateKeyPem, keyMatchesCertificate, keyPairId, parsePrivateKeyDer, parsePrivateKeyPem, privateKeyType } from './private-key.ts';
import { makeChain, type TestChain } from './test-fixtures.ts';

const block = (pem: string) => splitPem(pem, 10)[0]!;

describe('private keys', () => {
  let rsa: TestChain;
  let ec: TestChain;
  beforeAll(async () => {
    [rsa, ec] = await Promise.all([makeChain('RSA'), makeChain('EC')]);
  });

  it('reads PKCS#8, PKCS#1 and SEC1 and writes each format', () => {
    const pkcs1 = exportPrivateKeyPem(rsa.leaf.key, 'pkcs1');
    const sec1 = exportPrivateKeyPem(ec.leaf.key, 'sec1');
    expect(pkcs1).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(sec1).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    expect(exportPrivateKeyPem(ec.leaf.key, 'pkcs8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    for (const [pem, chain] of [[pkcs1, rsa], [sec1, ec], [rsa.leaf.keyPem, rsa], [ec.leaf.keyPem, ec]] as const) {
      const key = parsePrivateKeyPem(block(pem), undefined, 'key');
      expect(keyPairId(key)).toBe(keyPairId(chain.leaf.key));
      expect(keyMatchesCertificate(key, chain.leaf.cert)).toBe(true);
      expect(keyMatchesCertificate(key, chain.intermediate.cert)).toBe(false);
    }
    expect(privateKeyType(rsa.leaf.key)).toBe('RSA');
    expect(privateKeyType(ec.leaf.key)).toBe('EC');
  });

  it('refuses PKCS#1 for EC and SEC1 for RSA', () => {
    expect(() => exportPrivateKeyPem(ec.leaf.key, 'pkcs1')).toThrow(
      expect.objectContaining({ reason: 'UnsupportedKeyFormat', message: 'key format pkcs1 is only for RSA keys; this key is EC' }),
    );
    expect(() => exportPrivateKeyPem(rsa.leaf.key, 'sec1')).toThrow(expect.objectContaining({ reason: 'UnsupportedKeyFormat' }));
  });

  it('decrypts encrypted PKCS#8 and legacy encrypted PEM with the password only', () => {
    const password = 'pem-pass-123';
    const encrypted8 = rsa.leaf.key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: password }) as string;
    const legacy = ec.leaf.key.export({ format: 'pem', type: 'sec1', cipher: 'aes-128-cbc', passphrase: password }) as string;
    expect(keyPairId(parsePrivateKeyPem(block(encrypted8), password, 'k'))).toBe(keyPairId(rsa.leaf.key));
    expect(keyPairId(parsePrivateKeyPem(block(legacy), password, 'k'))).toBe(keyPairId(ec.leaf.key));
    expect(() => parsePrivateKeyPem(block(encrypted8), undefined, 'k')).toThrow(expect.objectContaining({ reason: 'BadPassword' }));
    expect(() => parsePrivateKeyPem(block(legacy), 'wrong', 'k')).toThrow(expect.objectContaining({ reason: 'BadPassword' }));
  });

  it('reports a corrupt key without echoing it', () => {
    const der = Buffer.from(rsa.leaf.key.export({ format: 'der', type: 'pkcs8' }));
    const broken = der.subarray(0, der.length - 40);
    let message = '';
    try {
      parsePrivateKeyDer(broken, 'pkcs8', 'PEM private key #1');
    } catch (err) {
      expect(err).toMatchObject({ reason: 'InvalidPrivateKey' });
      message = (err as Error).message;
    }
    expect(message).toBe('PEM private key #1 is not a valid PKCS8 private key');
  });

  it('rejects key types other than RSA and EC', () => {
    const ed = block('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBVa9pXVd7F9b1gEjHeTvS9hA+MnvLq9U3p3JVdkl7hC\n-----END PRIVATE KEY-----\n');
    expect(() => parsePrivateKeyPem(ed, undefined, 'k')).toThrow(expect.objectContaining({ reason: 'UnsupportedFormat' }));
  });
});

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateFacts, isSelfSigned, issued, oneLineName, parseCertificate } from './certificate.ts';
import { issue, makeChain, selfSigned, type TestChain } from './test-fixtures.ts';

describe('certificate', () => {
  let chain: TestChain;
  let ecChain: TestChain;
  beforeAll(async () => {
    [chain, ecChain] = await Promise.all([makeChain('RSA'), makeChain('EC')]);
  });

  it('reports the facts status shows', () => {
    const facts = certificateFacts(parseCertificate(chain.leaf.certDer, 'leaf'));
    expect(facts.subject).toBe('CN=kvsync test leaf');
    expect(facts.issuer).toBe('CN=kvsync test intermediate');
    expect(facts.dnsNames).toEqual(['localhost', 'shop.example']);
    expect(facts.keyType).toBe('RSA');
    expect(facts.sha1Thumbprint).toBe(createHash('sha1').update(chain.leaf.certDer).digest('hex').toUpperCase());
    expect(facts.serialNumber).toBe(chain.leaf.cert.serialNumber);
    expect(facts.notAfter.getTime()).toBeGreaterThan(facts.notBefore.getTime());
    expect(certificateFacts(ecChain.leaf.cert).keyType).toBe('EC');
  });

  it('rejects bytes that are not a certificate', () => {
    expect(() => parseCertificate(Buffer.from('30030201ff', 'hex'), 'thing')).toThrow(
      expect.objectContaining({ reason: 'InvalidCertificate', message: 'thing is not a valid X.509 certificate' }),
    );
  });

  it('verifies issuance by signature, not by name', async () => {
    expect(issued(chain.intermediate.cert, chain.leaf.cert)).toBe(true);
    expect(issued(chain.root.cert, chain.leaf.cert)).toBe(false);
    const impostor = await selfSigned('kvsync test intermediate', { keyIdentifiers: false });
    const leaf = await issue('plain', chain.intermediate, { ca: false, keyIdentifiers: false });
    expect(leaf.cert.checkIssued(impostor.cert)).toBe(true); // the names match…
    expect(issued(impostor.cert, leaf.cert)).toBe(false); // …the signature does not
    expect(issued(chain.intermediate.cert, leaf.cert)).toBe(true);
  });

  it('recognises self-signed certificates, also without keyCertSign (Key Vault self-signed leaves)', async () => {
    expect(isSelfSigned(chain.root.cert)).toBe(true);
    expect(isSelfSigned(chain.intermediate.cert)).toBe(false);
    const kvSelfSigned = await selfSigned('self', { ca: false, keyType: 'EC' });
    expect(kvSelfSigned.cert.checkIssued(kvSelfSigned.cert)).toBe(false); // OpenSSL: no keyCertSign
    expect(isSelfSigned(kvSelfSigned.cert)).toBe(true);
    // Same name, other key: not self-signed.
    const impostor = await issue('kvsync test root', chain.root, { keyIdentifiers: false });
    expect(impostor.cert.subject).toBe(impostor.cert.issuer);
    expect(isSelfSigned(impostor.cert)).toBe(false);
  });

  it('prints names on one line', () => {
    expect(oneLineName('C=NL\nO=Shop\nCN=a\n')).toBe('C=NL, O=Shop, CN=a');
  });
});

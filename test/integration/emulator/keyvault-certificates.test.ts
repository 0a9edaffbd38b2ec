/**
 * Conformance of certificates and keys with the real @azure/keyvault-certificates / -keys / -secrets
 * clients: create (Self and the config's test CA issuer), pending operation, get/versions/policy/list,
 * import (PFX with/without password, PEM), the backing secret (Key-Vault-like null-password PFX or PEM)
 * and key, and keys (RSA/EC, public JWK).
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { clientsFor, countOf, requestCounts, startTestEmulator, type Clients } from './kv-support.ts';

let emu: RunningEmulator;
let c: Clients;
let fixtures: string;

beforeAll(async () => {
  emu = await startTestEmulator();
  c = clientsFor(emu);
  fixtures = mkdtempSync(join(tmpdir(), 'kv-cert-fixtures-'));
});
afterAll(async () => {
  await emu.stop();
  rmSync(fixtures, { recursive: true, force: true });
});

function openKeyVaultPfx(base64: string): { keys: number; certs: X509Certificate[] } {
  const asn1 = forge.asn1.fromDer(forge.util.decode64(base64), false);
  // Key Vault's PFX uses the null password: no password argument at all.
  const p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false);
  const oids = forge.pki.oids;
  const shrouded = p12.getBags({ bagType: oids.pkcs8ShroudedKeyBag ?? '' })[oids.pkcs8ShroudedKeyBag ?? ''] ?? [];
  const certBags = p12.getBags({ bagType: oids.certBag ?? '' })[oids.certBag ?? ''] ?? [];
  const certs = certBags.map((b) => new X509Certificate(Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(b.cert as forge.pki.Certificate)).getBytes(), 'binary')));
  expect(() => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.decode64(base64), false), false, '')).toThrow(/MAC/);
  return { keys: shrouded.length, certs };
}

describe('certificates', () => {
  it('creates a certificate issued by the test CA; its secret is a null-password PFX with leaf, chain and key', async () => {
    const poller = await c.certificates.beginCreateCertificate(
      'shop-tls',
      { issuerName: 'EmulatorTestCA', subject: 'CN=shop.example', subjectAlternativeNames: { dnsNames: ['shop.example', 'www.shop.example'] }, validityInMonths: 6 },
      { intervalInMs: 50 },
    );
    const cert = await poller.pollUntilDone();
    expect(cert.name).toBe('shop-tls');
    expect(cert.properties.vaultUrl).toBe(c.vaultUrl);
    expect(cert.keyId).toBe(`${c.vaultUrl}/keys/shop-tls/${cert.properties.version}`);
    expect(cert.secretId).toBe(`${c.vaultUrl}/secrets/shop-tls/${cert.properties.version}`);
    expect(cert.policy?.issuerName).toBe('EmulatorTestCA');
    const leaf = new X509Certificate(Buffer.from(cert.cer ?? new Uint8Array()));
    expect(leaf.subject).toBe('CN=shop.example');
    expect(leaf.subjectAltName).toContain('DNS:www.shop.example');
    expect(Buffer.from(cert.properties.x509Thumbprint ?? new Uint8Array()).toString('hex')).toBe(createHash('sha1').update(leaf.raw).digest('hex'));

    const pending = await c.certificates.getCertificateOperation('shop-tls');
    expect(pending.getOperationState().certificateOperation?.status).toBe('completed');

    const secret = await c.secrets.getSecret('shop-tls');
    expect(secret.properties.managed).toBe(true);
    expect(secret.properties.contentType).toBe('application/x-pkcs12');
    expect(secret.properties.certificateKeyId).toBe(cert.keyId);
    expect(secret.properties.expiresOn?.getTime()).toBe(new Date(leaf.validTo).getTime());
    const pfx = openKeyVaultPfx(secret.value ?? '');
    expect(pfx.keys).toBe(1);
    expect(pfx.certs).toHaveLength(3);
    const subjects = pfx.certs.map((x) => x.subject);
    expect(subjects).toContain('CN=shop.example');
    expect(subjects).toContain('CN=EmulatorTestCA Intermediate CA\nO=kvsync emulator');
    expect(subjects).toContain('CN=EmulatorTestCA Root CA\nO=kvsync emulator');
    const intermediate = pfx.certs.find((x) => x.subject.startsWith('CN=EmulatorTestCA Intermediate'));
    expect(intermediate && leaf.checkIssued(intermediate)).toBe(true);
    expect(intermediate && leaf.verify(intermediate.publicKey)).toBe(true);

    // The backing key is the certificate's key (public JWK), marked managed.
    const key = await c.keys.getKey('shop-tls');
    expect(key.properties.managed).toBe(true);
    expect(key.keyType).toBe('RSA');
    const jwkKey = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(key.key?.n ?? []).toString('base64url'), e: Buffer.from(key.key?.e ?? []).toString('base64url') }, format: 'jwk' });
    expect(jwkKey.export({ format: 'der', type: 'spki' }).equals(leaf.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
  });

  it('creates a self-signed EC certificate with a PEM secret (PKCS#8 key first); versions and policy', async () => {
    const policy = { issuerName: 'Self', subject: 'CN=api', keyType: 'EC' as const, keyCurveName: 'P-256' as const, contentType: 'application/x-pem-file' as const };
    const v1 = await (await c.certificates.beginCreateCertificate('api-tls', policy, { intervalInMs: 50 })).pollUntilDone();
    const v2 = await (await c.certificates.beginCreateCertificate('api-tls', policy, { intervalInMs: 50 })).pollUntilDone();
    expect(v1.properties.version).not.toBe(v2.properties.version);
    const secret = await c.secrets.getSecret('api-tls');
    expect(secret.properties.contentType).toBe('application/x-pem-file');
    expect(secret.value?.startsWith('-----BEGIN PRIVATE KEY-----')).toBe(true);
    expect(secret.value).toContain('-----BEGIN CERTIFICATE-----');
    const versioned = await c.certificates.getCertificateVersion('api-tls', v1.properties.version ?? '');
    expect(versioned.properties.version).toBe(v1.properties.version);
    const fetchedPolicy = await c.certificates.getCertificatePolicy('api-tls');
    expect(fetchedPolicy.keyType).toBe('EC');
    expect(fetchedPolicy.keyCurveName).toBe('P-256');
    expect(fetchedPolicy.contentType).toBe('application/x-pem-file');
    const versions: string[] = [];
    for await (const p of c.certificates.listPropertiesOfCertificateVersions('api-tls')) versions.push(p.version ?? '');
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());
    const key = await c.keys.getKey('api-tls');
    expect(key.keyType).toBe('EC');
    expect(key.key?.crv).toBe('P-256');
  });

  it('imports a PFX with a password, a PFX without one, and a PEM bundle; lists certificates and their managed secrets', async () => {
    const run = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: fixtures, stdio: 'pipe' });
    };
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '30', '-subj', '/CN=imported.example', '-addext', 'subjectAltName=DNS:imported.example');
    run('pkcs12', '-export', '-inkey', 'k.pem', '-in', 'c.pem', '-out', 'pw.pfx', '-passout', 'pass:s3cret');
    run('pkcs12', '-export', '-inkey', 'k.pem', '-in', 'c.pem', '-out', 'nopw.pfx', '-passout', 'pass:');
    const withPw = await c.certificates.importCertificate('imported-pw', readFileSync(join(fixtures, 'pw.pfx')), { password: 's3cret' });
    expect(withPw.policy?.issuerName).toBe('Unknown');
    expect(withPw.policy?.subject).toBe('CN=imported.example');
    const noPw = await c.certificates.importCertificate('imported-nopw', readFileSync(join(fixtures, 'nopw.pfx')));
    expect(noPw.properties.version).toMatch(/^[0-9a-f]{32}$/);
    const pem = Buffer.concat([readFileSync(join(fixtures, 'k.pem')), readFileSync(join(fixtures, 'c.pem'))]);
    const fromPem = await c.certificates.importCertificate('imported-pem', pem, { policy: { contentType: 'application/x-pem-file', issuerName: 'Unknown', subject: 'CN=imported.example' } });
    expect(fromPem.policy?.contentType).toBe('application/x-pem-file');
    const expected = new X509Certificate(readFileSync(join(fixtures, 'c.pem')));
    expect(Buffer.from(noPw.cer ?? new Uint8Array()).equals(expected.raw)).toBe(true);

    // The imported PFX comes back as Key Vault makes it (null password, 3DES), whatever its original password.
    const secret = await c.secrets.getSecret('imported-pw');
    const pfx = openKeyVaultPfx(secret.value ?? '');
    expect(pfx.keys).toBe(1);
    expect(pfx.certs.map((x) => x.subject)).toEqual(['CN=imported.example']);

    // A wrong password is a 400, not a crash.
    await expect(c.certificates.importCertificate('imported-bad', readFileSync(join(fixtures, 'pw.pfx')), { password: 'wrong' })).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });

    const names: string[] = [];
    for await (const p of c.certificates.listPropertiesOfCertificates()) names.push(p.name ?? '');
    expect(names).toEqual(expect.arrayContaining(['imported-pw', 'imported-nopw', 'imported-pem', 'shop-tls', 'api-tls']));
    const managed: string[] = [];
    for await (const p of c.secrets.listPropertiesOfSecrets()) if (p.managed === true) managed.push(p.name);
    expect(managed).toEqual(expect.arrayContaining(['imported-pw', 'imported-nopw', 'imported-pem']));
    const counts = await requestCounts(emu);
    expect(countOf(counts, 'importCertificate', 200)).toBe(3);
    expect(countOf(counts, 'importCertificate', 400)).toBe(1);
    expect(countOf(counts, 'beginCreateCertificate', 202)).toBe(3);
    expect(countOf(counts, 'getCertificateVersion', 200)).toBe(1);
  });

  it('deletes a certificate with its secret and key, recovers it, and purges it', async () => {
    await (await c.certificates.beginCreateCertificate('short-lived', { issuerName: 'Self', subject: 'CN=short' }, { intervalInMs: 50 })).pollUntilDone();
    await (await c.certificates.beginDeleteCertificate('short-lived', { intervalInMs: 50 })).pollUntilDone();
    await expect(c.certificates.getCertificate('short-lived')).rejects.toMatchObject({ statusCode: 404, code: 'CertificateNotFound' });
    await expect(c.secrets.getSecret('short-lived')).rejects.toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    await (await c.certificates.beginRecoverDeletedCertificate('short-lived', { intervalInMs: 50 })).pollUntilDone();
    expect((await c.secrets.getSecret('short-lived')).properties.managed).toBe(true);
    await (await c.certificates.beginDeleteCertificate('short-lived', { intervalInMs: 50 })).pollUntilDone();
    await c.certificates.purgeDeletedCertificate('short-lived');
    await expect(c.certificates.getDeletedCertificate('short-lived')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('keys', () => {
  it('creates RSA and EC keys and returns public JWKs only', async () => {
    const rsa = await c.keys.createRsaKey('signing-rsa', { keySize: 2048 });
    expect(rsa.keyType).toBe('RSA');
    expect(rsa.key?.n?.length).toBe(256);
    expect(rsa.key?.d).toBeUndefined();
    expect(rsa.id).toBe(`${c.vaultUrl}/keys/signing-rsa/${rsa.properties.version}`);
    const ec = await c.keys.createEcKey('signing-ec', { curve: 'P-384' });
    expect(ec.key?.crv).toBe('P-384');
    expect(ec.key?.d).toBeUndefined();
    const got = await c.keys.getKey('signing-ec', { version: ec.properties.version ?? '' });
    expect(Buffer.from(got.key?.x ?? []).equals(Buffer.from(ec.key?.x ?? []))).toBe(true);
    const names: string[] = [];
    for await (const p of c.keys.listPropertiesOfKeys()) names.push(p.name);
    expect(names).toEqual(expect.arrayContaining(['signing-rsa', 'signing-ec']));
    await expect(c.keys.getKey('no-such-key')).rejects.toMatchObject({ statusCode: 404, code: 'KeyNotFound' });
  });
});

import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToPkcs8Der } from './keys.ts';
import { buildKeyVaultPfx, buildPemBundle, parseImportedValue } from './pfx.ts';
import { issueCertificate, orderChain } from './x509.ts';

async function chain(family: 'RSA' | 'EC') {
  const now = new Date();
  const later = new Date(now.getTime() + 86400e3);
  const rootKey = await generatePrivateKey({ family: 'EC', curve: 'P-256' });
  const root = await issueCertificate({ subject: 'CN=Root', notBefore: now, notAfter: later, subjectKey: rootKey, isCa: true, keyUsage: ['keyCertSign'] });
  const leafKey = await generatePrivateKey(family === 'RSA' ? { family, keySize: 2048 } : { family, curve: 'P-256' });
  const leaf = await issueCertificate(
    { subject: 'CN=web', dnsNames: ['web.example'], notBefore: now, notAfter: later, subjectKey: createPublicKey(leafKey) },
    { certDer: root, privateKey: rootKey, chainDer: [] },
  );
  return { leaf, root, leafKey };
}

describe('Key-Vault-like PFX', () => {
  it('uses 3DES + SHA-1 MAC keyed by the null password (forge: no password works, "" fails)', async () => {
    const { leaf, root, leafKey } = await chain('RSA');
    const pfx = buildKeyVaultPfx(privateKeyToPkcs8Der(leafKey), [leaf, root]);
    const der = pfx.toString('binary');
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der), false);
    const keyBags = p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag ?? '' })[forge.pki.oids.pkcs8ShroudedKeyBag ?? ''] ?? [];
    const certBags = p12.getBags({ bagType: forge.pki.oids.certBag ?? '' })[forge.pki.oids.certBag ?? ''] ?? [];
    expect(keyBags).toHaveLength(1);
    expect(certBags).toHaveLength(2);
    expect(() => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der), false, '')).toThrow(/MAC could not be verified/);
    // Node/OpenSSL accept it too (OpenSSL tries both empty passwords).
    expect(() => createSecureContext({ pfx })).not.toThrow();
    const dir = mkdtempSync(join(tmpdir(), 'kvpfx-'));
    writeFileSync(join(dir, 'c.pfx'), pfx);
    const info = execFileSync('openssl', ['pkcs12', '-info', '-nodes', '-passin', 'pass:', '-in', join(dir, 'c.pfx')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(info).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it('round-trips RSA and EC bundles through the import parser, leaf first', async () => {
    for (const family of ['RSA', 'EC'] as const) {
      const { leaf, root, leafKey } = await chain(family);
      const fromPfx = parseImportedValue(buildKeyVaultPfx(privateKeyToPkcs8Der(leafKey), [leaf, root]).toString('base64'), undefined);
      expect(fromPfx.format).toBe('pfx');
      expect(fromPfx.certsDer[0]?.equals(leaf)).toBe(true);
      expect(fromPfx.privateKey?.asymmetricKeyType).toBe(family.toLowerCase());
      const pem = buildPemBundle(privateKeyToPkcs8Der(leafKey), [root, leaf]);
      expect(pem.startsWith('-----BEGIN PRIVATE KEY-----')).toBe(true);
      const fromPem = parseImportedValue(pem, undefined);
      expect(fromPem.certsDer.map((d) => d.equals(leaf))).toEqual([true, false]);
    }
  });

  it('orders a shuffled chain leaf → root', async () => {
    const { leaf, root, leafKey } = await chain('EC');
    expect(orderChain([root, leaf], leafKey)[0]?.equals(leaf)).toBe(true);
    expect(orderChain([root, leaf], undefined)[0]?.equals(leaf)).toBe(true);
  });

  it('builds a certificate-only PFX when the key is not exportable', async () => {
    const { leaf, root } = await chain('RSA');
    const parsed = parseImportedValue(buildKeyVaultPfx(undefined, [leaf, root]).toString('base64'), undefined);
    expect(parsed.privateKey).toBeUndefined();
    expect(parsed.certsDer).toHaveLength(2);
  });
});

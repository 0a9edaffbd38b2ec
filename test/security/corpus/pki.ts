/**
 * Hostile certificate inputs: Key Vault secret values a tenant controls (the backing secret of a
 * certificate, or a secret with a certificate content type) that must each end in a typed PKI reason,
 * never a crash, a hang or a half-decoded bundle. Built on demand: they need fresh keys and
 * certificates (src/pki/test-fixtures.ts) and, for some, the openssl CLI.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12, type BundleOptions, type PkiErrorReason } from '../../../src/pki/bundle.ts';
import { writePfx } from '../../../src/pki/pfx-writer.ts';
import { makeChain, opensslPkcs12, selfSigned } from '../../../src/pki/test-fixtures.ts';

export interface PkiCorpusCase {
  name: string;
  kind: 'pfx' | 'pem';
  /** The Key Vault secret value: base64 of a PKCS#12 file, or PEM text. */
  input: string;
  /** The secret's content type, as Key Vault would report it. */
  contentType: string | undefined;
  /** Options the consumer asks for (e.g. a private key for tls.key). */
  options?: BundleOptions;
  expectedReason: PkiErrorReason;
}

/** Replaces the last occurrence of `from` in `der` by `to` (same length, so no DER length changes). */
function patchLast(der: Buffer, from: Buffer, to: Buffer): Buffer {
  const at = der.lastIndexOf(from);
  if (at < 0 || from.length !== to.length) throw new Error('corpus: patch point not found');
  const out = Buffer.from(der);
  to.copy(out, at);
  return out;
}

/** A PFX (no MAC) whose only SafeBag is a safeContentsBag nesting `depth` levels of SafeContents. */
function nestedBagsPfx(depth: number): Buffer {
  const { asn1 } = forge;
  const seq = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
  const oid = (o: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
  const explicit0 = (inner: forge.asn1.Asn1): forge.asn1.Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
  const octets = (bytes: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
  const safeContentsBagOid = '1.2.840.113549.1.12.10.1.6';
  let contents = seq([]);
  for (let i = 0; i < depth; i++) contents = seq([seq([oid(safeContentsBagOid), explicit0(contents)])]);
  const data = (inner: forge.asn1.Asn1): forge.asn1.Asn1 => seq([oid('1.2.840.113549.1.7.1'), explicit0(octets(asn1.toDer(inner).getBytes()))]);
  const pfx = seq([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\x03'), data(seq([data(contents)]))]);
  return Buffer.from(asn1.toDer(pfx).getBytes(), 'binary');
}

export async function pkiCorpus(): Promise<PkiCorpusCase[]> {
  const chain = await makeChain('RSA', 'corpus');
  const other = await makeChain('RSA', 'corpus other');
  const pkcs8 = chain.leaf.key.export({ format: 'der', type: 'pkcs8' });
  const certs = [chain.leaf.certDer, chain.intermediate.certDer];
  const b64 = (b: Buffer): string => b.toString('base64');
  const good = writePfx(certs, pkcs8, { password: null, iterations: 2048 });
  // 65,536 (02 03 01 00 00) patched to 8,388,607 or 2^23-1 (02 03 7F FF FF): the MAC's count, read first.
  const highIterations = patchLast(writePfx(certs, pkcs8, { password: null, iterations: 65_536 }), Buffer.from([2, 3, 1, 0, 0]), Buffer.from([2, 3, 0x7f, 0xff, 0xff]));
  const withMac = writePfx(certs, pkcs8, { password: null, iterations: 2048 });
  const macTampered = Buffer.from(withMac);
  // The MAC value is the OCTET STRING of 20 bytes (SHA-1) near the end: flip its last byte.
  const macAt = withMac.lastIndexOf(Buffer.from([0x04, 0x14]));
  macTampered[macAt + 2 + 19] = (macTampered[macAt + 2 + 19] ?? 0) ^ 0xff;
  const ed = generateKeyPairSync('ed25519');
  const edCert = await selfSigned('corpus ed25519');
  const manyCerts = Array.from({ length: 40 }, () => chain.leaf.certPem).join('') + Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? chain.intermediate.certPem : chain.root.certPem)).join('');
  const pemBlocks = Array.from({ length: 200 }, () => '-----BEGIN X-NOTHING-----\nAAAA\n-----END X-NOTHING-----\n').join('');
  const encryptedKey = chain.leaf.key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'tenant-secret' }) as string;

  return [
    { name: 'truncated PFX', kind: 'pfx', input: b64(good.subarray(0, Math.floor(good.length / 2))), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'InvalidCertificate' },
    { name: 'PFX with a password kvsync is not given', kind: 'pfx', input: b64(writePfx(certs, pkcs8, { password: 'tenant-only', iterations: 2048 })), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'BadPassword' },
    { name: 'PFX claiming 8 million MAC iterations', kind: 'pfx', input: b64(highIterations), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'LimitExceeded' },
    { name: 'PFX whose MAC does not match its content', kind: 'pfx', input: b64(macTampered), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'BadPassword' },
    { name: 'PFX without a private key, asked for tls.key', kind: 'pfx', input: b64(writePfx(certs, undefined, { password: null, iterations: 2048 })), contentType: CONTENT_TYPE_PKCS12, options: { requirePrivateKey: true }, expectedReason: 'NoPrivateKey' },
    { name: "PFX whose key belongs to another tenant's certificate", kind: 'pfx', input: b64(writePfx(certs, other.leaf.key.export({ format: 'der', type: 'pkcs8' }), { password: null, iterations: 2048 })), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'KeyMismatch' },
    { name: 'PFX nesting SafeContents 64 levels deep', kind: 'pfx', input: b64(nestedBagsPfx(64)), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'UnsupportedFormat' },
    { name: 'PFX encrypted with an algorithm kvsync does not read (PBES2 Camellia)', kind: 'pfx', input: b64(opensslPkcs12(chain.leaf.keyPem, chain.leaf.certPem, 'x', ['-keypbe', 'CAMELLIA-256-CBC', '-certpbe', 'CAMELLIA-256-CBC'])), contentType: CONTENT_TYPE_PKCS12, options: { password: 'x' }, expectedReason: 'UnsupportedFormat' },
    { name: 'PKCS#12 content type on a value that is not base64', kind: 'pfx', input: '%%% not base64 %%%', contentType: CONTENT_TYPE_PKCS12, expectedReason: 'UnsupportedFormat' },
    { name: 'oversized value (300 KiB)', kind: 'pfx', input: 'A'.repeat(300 * 1024), contentType: CONTENT_TYPE_PKCS12, expectedReason: 'LimitExceeded' },
    { name: 'PEM certificate block holding garbage', kind: 'pem', input: `${chain.leaf.keyPem}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`, contentType: CONTENT_TYPE_PEM, expectedReason: 'InvalidCertificate' },
    { name: 'PEM private key block holding garbage', kind: 'pem', input: `-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n${chain.leaf.certPem}`, contentType: CONTENT_TYPE_PEM, expectedReason: 'InvalidPrivateKey' },
    { name: 'PEM content type without any PEM block', kind: 'pem', input: 'just text', contentType: CONTENT_TYPE_PEM, expectedReason: 'UnsupportedFormat' },
    { name: 'PEM bundle of 80 certificates', kind: 'pem', input: manyCerts, contentType: CONTENT_TYPE_PEM, expectedReason: 'LimitExceeded' },
    { name: 'PEM bundle of 200 unknown blocks', kind: 'pem', input: pemBlocks + chain.leaf.certPem, contentType: CONTENT_TYPE_PEM, expectedReason: 'LimitExceeded' },
    { name: 'PEM with two different private keys', kind: 'pem', input: chain.leaf.keyPem + other.leaf.keyPem + chain.leaf.certPem, contentType: CONTENT_TYPE_PEM, expectedReason: 'UnsupportedFormat' },
    { name: 'PEM with an encrypted key and no passphrase', kind: 'pem', input: encryptedKey + chain.leaf.certPem, contentType: CONTENT_TYPE_PEM, expectedReason: 'BadPassword' },
    { name: 'PEM key of a type kvsync does not write (Ed25519)', kind: 'pem', input: (ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string) + edCert.certPem, contentType: CONTENT_TYPE_PEM, expectedReason: 'UnsupportedFormat' },
  ];
}

/**
 * Test fixtures made at test time (no committed key material): certificate chains with RSA or EC
 * keys via @peculiar/x509 on Node's WebCrypto, and PKCS#12 files via the `openssl` CLI.
 * Used by the `src/pki` unit tests and available to integration tests that need a TLS chain.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export type FixtureKeyType = 'RSA' | 'EC';

/** A certificate with its key, in the forms tests need. */
export interface Issued {
  name: string;
  certPem: string;
  certDer: Buffer;
  cert: NodeX509;
  keys: CryptoKeyPair;
  key: KeyObject;
  /** PKCS#8 PEM of the key. */
  keyPem: string;
}

export interface TestChain {
  root: Issued;
  intermediate: Issued;
  leaf: Issued;
}

const ALGORITHMS = {
  RSA: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  EC: { name: 'ECDSA', namedCurve: 'P-256' },
} as const;
const SIGNING = { RSA: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, EC: { name: 'ECDSA', hash: 'SHA-256' } } as const;

export async function generateKeys(type: FixtureKeyType): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHMS[type], true, ['sign', 'verify']));
}

async function finish(name: string, cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const certDer = Buffer.from(cert.rawData);
  return {
    name,
    certPem: cert.toString('pem') + '\n',
    certDer,
    cert: new NodeX509(certDer),
    keys,
    key,
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}

export interface IssueOptions {
  keyType?: FixtureKeyType;
  /** Reuse an existing key pair (cross-signing). */
  keys?: CryptoKeyPair;
  ca?: boolean;
  dnsNames?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Write subject/authority key identifier extensions (default true); false leaves names as the only link. */
  keyIdentifiers?: boolean;
}

/** A self-signed CA certificate `CN=<cn>`. */
export async function selfSigned(cn: string, opts: IssueOptions = {}): Promise<Issued> {
  const type = opts.keyType ?? 'RSA';
  const keys = opts.keys ?? (await generateKeys(type));
  const ca = opts.ca ?? true;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    keys,
    signingAlgorithm: SIGNING[type],
    notBefore: opts.notBefore ?? new Date(Date.now() - 3600_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * 86400_000),
    extensions: [
      new x509.BasicConstraintsExtension(ca, undefined, true),
      new x509.KeyUsagesExtension(ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature, true),
      ...(opts.keyIdentifiers === false ? [] : [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)]),
      ...(opts.dnsNames ? [new x509.SubjectAlternativeNameExtension(opts.dnsNames.map((value) => ({ type: 'dns' as const, value })))] : []),
    ],
  });
  return finish(cn, cert, keys);
}

/** A certificate `CN=<cn>` signed by `issuer` (a CA unless `ca: false`). */
export async function issue(cn: string, issuer: Issued, opts: IssueOptions = {}): Promise<Issued> {
  const type = opts.keyType ?? 'RSA';
  const keys = opts.keys ?? (await generateKeys(type));
  const ca = opts.ca ?? true;
  const issuerType = issuer.key.asymmetricKeyType === 'ec' ? 'EC' : 'RSA';
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`,
    issuer: `CN=${issuer.name}`,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: SIGNING[issuerType],
    notBefore: opts.notBefore ?? new Date(Date.now() - 3600_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * 86400_000),
    extensions: [
      new x509.BasicConstraintsExtension(ca, ca ? 0 : undefined, true),
      new x509.KeyUsagesExtension(
        ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      ...(opts.keyIdentifiers === false
        ? []
        : [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey), await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)]),
      ...(ca ? [] : [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])]),
      ...(opts.dnsNames ? [new x509.SubjectAlternativeNameExtension(opts.dnsNames.map((value) => ({ type: 'dns' as const, value })))] : []),
    ],
  });
  return finish(cn, cert, keys);
}

/** root (self-signed CA) → intermediate (CA) → leaf (`localhost`, `shop.example`), all with `keyType` keys. */
export async function makeChain(keyType: FixtureKeyType = 'RSA', prefix = 'kvsync test'): Promise<TestChain> {
  const root = await selfSigned(`${prefix} root`, { keyType });
  const intermediate = await issue(`${prefix} intermediate`, root, { keyType });
  const leaf = await issue(`${prefix} leaf`, intermediate, { keyType, ca: false, dnsNames: ['localhost', 'shop.example'] });
  return { root, intermediate, leaf };
}

/**
 * Runs `openssl pkcs12 -export` on `keyPem` + `certsPem` with extra `args` (e.g. `-legacy`,
 * `-keypbe NONE -certpbe NONE`) and password `password` (`""` allowed), returning the DER.
 */
export function opensslPkcs12(keyPem: string | undefined, certsPem: string, password: string, args: string[] = []): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kvsync-pki-'));
  try {
    const inFile = join(dir, 'in.pem');
    const outFile = join(dir, 'out.pfx');
    writeFileSync(inFile, (keyPem ?? '') + certsPem, { mode: 0o600 });
    execFileSync(
      '/usr/bin/openssl',
      ['pkcs12', '-export', '-in', inFile, '-out', outFile, '-passout', `pass:${password}`, ...(keyPem ? [] : ['-nokeys']), ...args],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return readFileSync(outFile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Test CA issuers from the config: a certificate policy naming one gets a leaf signed by it, so that
 * certificates come with a real chain (leaf → intermediate → root). Generated per run (RSA, so that
 * tools verifying signatures with node-forge can follow the chain) unless PEM files are given.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TestCaIssuerConfig } from './config.ts';
import { EmulatorConfigError } from './errors.ts';
import { generatePrivateKey } from './pki/keys.ts';
import { issueCertificate, orderChain, type SigningIdentity } from './pki/x509.ts';

async function generated(name: string, now: Date): Promise<SigningIdentity> {
  const notBefore = new Date(now.getTime() - 3600_000);
  const notAfter = new Date(now.getTime() + 10 * 365 * 86400_000);
  const rootKey = await generatePrivateKey({ family: 'RSA', keySize: 2048 });
  const rootDer = await issueCertificate({ subject: `CN=${name} Root CA, O=kvsync emulator`, notBefore, notAfter, subjectKey: rootKey, isCa: true, keyUsage: ['keyCertSign', 'cRLSign'] });
  const intKey = await generatePrivateKey({ family: 'RSA', keySize: 2048 });
  const intDer = await issueCertificate(
    { subject: `CN=${name} Intermediate CA, O=kvsync emulator`, notBefore, notAfter, subjectKey: createPublicKey(intKey), isCa: true, keyUsage: ['keyCertSign', 'cRLSign'] },
    { certDer: rootDer, privateKey: rootKey, chainDer: [] },
  );
  return { certDer: intDer, privateKey: intKey, chainDer: [rootDer] };
}

async function fromFiles(cfg: TestCaIssuerConfig & { certFile: string; keyFile: string }): Promise<SigningIdentity> {
  try {
    const certText = await readFile(cfg.certFile, 'utf8');
    const privateKey = createPrivateKey(await readFile(cfg.keyFile, 'utf8'));
    const certs = [...certText.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => Buffer.from(new X509Certificate(m[0]).raw));
    const ordered = orderChain(certs, privateKey);
    const [first, ...chainDer] = ordered;
    if (first === undefined) throw new Error('no certificate in certFile');
    return { certDer: first, privateKey, chainDer };
  } catch (err) {
    throw new EmulatorConfigError(`issuer ${cfg.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function loadIssuers(configs: TestCaIssuerConfig[], now: Date): Promise<Map<string, SigningIdentity>> {
  const out = new Map<string, SigningIdentity>();
  for (const cfg of configs) {
    const identity = cfg.certFile !== undefined && cfg.keyFile !== undefined ? await fromFiles({ ...cfg, certFile: cfg.certFile, keyFile: cfg.keyFile }) : await generated(cfg.name, now);
    out.set(cfg.name, identity);
  }
  return out;
}

/**
 * The emulator's per-run TLS material: an ECDSA CA (written to `ca.pem` for clients to trust) and one
 * server certificate covering every host name the HTTPS listener answers for.
 */
import { createPublicKey } from 'node:crypto';
import { toPem } from '../pki/bundle.ts';
import { generatePrivateKey } from './pki/keys.ts';
import { issueCertificate, type SigningIdentity } from './pki/x509.ts';

/** Host names (SANs) of the server certificate: public and sovereign-cloud vault suffixes plus loopback. */
export const VAULT_DOMAIN_SUFFIXES = ['vault.azure.net', 'vault.usgovcloudapi.net', 'vault.azure.cn'] as const;
export const SERVER_DNS_NAMES = [...VAULT_DOMAIN_SUFFIXES.map((s) => `*.${s}`), 'localhost'];
export const SERVER_IPS = ['127.0.0.1', '::1'];

export interface EmulatorTls {
  ca: SigningIdentity;
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

/** `extra`: further names and addresses the listener answers for (e.g. the Entra host and the listen address a cluster's pods use). */
export async function createEmulatorTls(now: Date, extra: { dnsNames?: readonly string[]; ips?: readonly string[] } = {}): Promise<EmulatorTls> {
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + 365 * 24 * 60 * 60 * 1000);
  const caKey = await generatePrivateKey({ family: 'EC', curve: 'P-256' });
  const caDer = await issueCertificate({
    subject: 'CN=kvsync emulator CA, O=kvsync',
    notBefore,
    notAfter,
    subjectKey: caKey,
    isCa: true,
    keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
  });
  const ca: SigningIdentity = { certDer: caDer, privateKey: caKey, chainDer: [] };
  const serverKey = await generatePrivateKey({ family: 'EC', curve: 'P-256' });
  const serverDer = await issueCertificate(
    {
      subject: 'CN=kvsync emulator',
      dnsNames: [...SERVER_DNS_NAMES, ...(extra.dnsNames ?? [])],
      ipAddresses: [...SERVER_IPS, ...(extra.ips ?? []).filter((ip) => !SERVER_IPS.includes(ip))],
      ekus: ['1.3.6.1.5.5.7.3.1'],
      keyUsage: ['digitalSignature'],
      notBefore,
      notAfter,
      subjectKey: createPublicKey(serverKey),
    },
    ca,
  );
  return {
    ca,
    caPem: toPem('CERTIFICATE', caDer),
    serverCertPem: toPem('CERTIFICATE', serverDer),
    serverKeyPem: serverKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

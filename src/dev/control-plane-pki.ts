/**
 * The certificates and keys a throwaway control plane needs, made fresh for every start:
 * a serving CA and the apiserver's serving certificate, a client CA with the admin's and the
 * controller-manager's client certificates, and the ServiceAccount token signing key (RSA, as AKS
 * uses, so workload-identity tokens look like the real ones).
 */
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface ControlPlanePki {
  servingCa: PemPair;
  apiserver: PemPair;
  clientCa: PemPair;
  admin: PemPair;
  controllerManager: PemPair;
  /** The apiserver's client certificate towards kubelets (logs, exec, port-forward). */
  kubeletClient: PemPair;
  serviceAccount: { publicKeyPem: string; privateKeyPem: string };
}

async function keyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** @peculiar/x509 ends PEM without a newline; concatenated blocks must not run into each other. */
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

const validity = (): { notBefore: Date; notAfter: Date } => {
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + 7 * 24 * 3600_000) };
};

async function makeCa(commonName: string): Promise<{ pem: PemPair; cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: ecdsa,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: { certPem: withNewline(cert.toString('pem')), keyPem: await keyPem(keys.privateKey) }, cert, keys };
}

async function makeLeaf(
  ca: { cert: x509.X509Certificate; keys: { privateKey: CryptoKey } },
  subject: string,
  usage: 'server' | 'client',
  sans: x509.JsonGeneralName[] = [],
): Promise<PemPair> {
  const keys = await keyPair();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ecdsa,
    ...validity(),
    extensions,
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await keyPem(keys.privateKey) };
}

/**
 * A certificate signed by a CA of this PKI given as PEM (e.g. a node's client and serving certificates,
 * made after the control plane started). `subject` is an X.500 name such as `CN=system:node:n, O=system:nodes`.
 */
export async function issueLeaf(ca: PemPair, subject: string, usage: 'server' | 'client', sans: x509.JsonGeneralName[] = []): Promise<PemPair> {
  const cert = new x509.X509Certificate(ca.certPem);
  const der = x509.PemConverter.decode(ca.keyPem)[0];
  if (der === undefined) throw new Error('the CA key is not PEM');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ecdsa, false, ['sign']);
  return makeLeaf({ cert, keys: { privateKey } }, subject, usage, sans);
}

/**
 * `address`: the apiserver's bind address, added to its serving certificate (default loopback only);
 * `kubernetesServiceIp`: the `kubernetes` Service's ClusterIP, which pods connect to.
 */
export async function generateControlPlanePki(address = '127.0.0.1', kubernetesServiceIp = '10.0.0.1'): Promise<ControlPlanePki> {
  const servingCa = await makeCa('kvsync-dev-serving-ca');
  const clientCa = await makeCa('kvsync-dev-client-ca');
  const apiserver = await makeLeaf(servingCa, 'CN=kube-apiserver', 'server', [
    { type: 'dns', value: 'localhost' },
    { type: 'dns', value: 'kubernetes' },
    { type: 'dns', value: 'kubernetes.default' },
    { type: 'dns', value: 'kubernetes.default.svc' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: kubernetesServiceIp },
    ...(address === '127.0.0.1' ? [] : [{ type: 'ip' as const, value: address }]),
  ]);
  // system:masters for both: a throwaway test cluster, and kube-controller-manager then needs no
  // per-controller ServiceAccount credentials.
  const admin = await makeLeaf(clientCa, 'CN=kvsync-admin, O=system:masters', 'client');
  const controllerManager = await makeLeaf(clientCa, 'CN=system:kube-controller-manager, O=system:masters', 'client');
  const kubeletClient = await makeLeaf(clientCa, 'CN=kube-apiserver-kubelet-client, O=system:masters', 'client');
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    servingCa: servingCa.pem,
    apiserver,
    clientCa: clientCa.pem,
    admin,
    controllerManager,
    kubeletClient,
    serviceAccount: {
      publicKeyPem: sa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKeyPem: sa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    },
  };
}

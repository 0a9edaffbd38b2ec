/**
 * The webhook's serving certificate, two ways:
 *
 * - {@link SecretCertificateManager}: kvsync runs its own small CA. The CA and the serving certificate
 *   live in one Secret in the operator namespace, so every replica serves the same pair. Replicas
 *   create-or-read that Secret with optimistic concurrency (create → 409 → read; replace with the read
 *   resourceVersion → 409 → read again), so exactly one of them mints a renewal and the others adopt
 *   it. The CA bundle is patched into the MutatingWebhookConfiguration BEFORE a new pair is served.
 *   The leaf is renewed when less than a third of its lifetime is left (30 of 90 days by default); the
 *   CA likewise, and then the bundle carries the new and the previous CA until the old one expires,
 *   so a replica still serving the old leaf stays trusted during the hand-over.
 * - {@link FileCertificateSource}: a user-supplied cert/key (cert-manager), re-read when the files
 *   change; cert-manager's cainjector owns the CA bundle then.
 *
 * Private keys are never logged nor put into error messages.
 */
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import * as x509 from '@peculiar/x509';
import * as k8s from '@kubernetes/client-node';
import { WebhookCertificateError } from './errors.ts';

x509.cryptoProvider.set(globalThis.crypto);

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600_000;

/** What the HTTPS server needs. */
export interface ServingCertificate {
  certPem: string;
  keyPem: string;
}

/** Everything kept in the Secret. `caBundlePem` starts with the current CA (`caCertPem`). */
export interface WebhookCertificates extends ServingCertificate {
  caCertPem: string;
  caKeyPem: string;
  caBundlePem: string;
}

export interface CertificateOptions {
  /** subjectAltName DNS names, e.g. `kvsync-webhook.kvsync-system.svc`. */
  dnsNames: string[];
  /** subjectAltName IP addresses, e.g. `127.0.0.1` for a loopback test. */
  ipAddresses?: string[];
  leafValidityMs?: number;
  caValidityMs?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

const DEFAULT_LEAF_VALIDITY_MS = 90 * DAY;
const DEFAULT_CA_VALIDITY_MS = 5 * 365 * DAY;

function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return withNewline(x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY'));
}

/** Splits concatenated PEM certificates. */
export function splitCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map(withNewline) ?? [];
}

async function generateCa(now: Date, validityMs: number): Promise<{ certPem: string; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=kvsync-webhook-ca-${now.toISOString().slice(0, 10)}`,
    keys,
    signingAlgorithm: ecdsa,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + validityMs),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await keyPem(keys.privateKey) };
}

async function issueLeaf(ca: { certPem: string; keyPem: string }, opts: CertificateOptions, now: Date): Promise<ServingCertificate> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), ecdsa, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const sans: x509.JsonGeneralName[] = [
    ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${opts.dnsNames[0] ?? opts.ipAddresses?.[0] ?? 'kvsync-webhook'}`,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ecdsa,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + (opts.leafValidityMs ?? DEFAULT_LEAF_VALIDITY_MS)),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export()),
      new x509.SubjectAlternativeNameExtension(sans),
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await keyPem(keys.privateKey) };
}

/** True when less than a third of the certificate's lifetime is left (or it is not valid yet/anymore). */
function nearExpiry(pem: string, now: Date): boolean {
  const c = new X509Certificate(pem);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  return now.getTime() < from || to - now.getTime() < (to - from) / 3;
}

/** Whether the serving certificate names every wanted DNS name and IP. */
function coversNames(pem: string, opts: CertificateOptions): boolean {
  const san = new X509Certificate(pem).subjectAltName ?? '';
  const have = new Set(san.split(', '));
  return opts.dnsNames.every((d) => have.has(`DNS:${d}`)) && (opts.ipAddresses ?? []).every((ip) => have.has(`IP Address:${ip}`));
}

/** Whether a stored set must be renewed (leaf or CA near expiry, names changed, leaf not from the CA). */
export function needsRenewal(certs: WebhookCertificates, opts: CertificateOptions): boolean {
  const now = opts.now?.() ?? new Date();
  const leaf = new X509Certificate(certs.certPem);
  return nearExpiry(certs.caCertPem, now) || nearExpiry(certs.certPem, now) || !coversNames(certs.certPem, opts) || !leaf.checkIssued(new X509Certificate(certs.caCertPem));
}

/**
 * Makes the next certificate set. A new CA when there is none, it is near expiry or `newCa`; the
 * previous CAs that are still valid stay in the bundle.
 */
export async function renewCertificates(previous: WebhookCertificates | undefined, opts: CertificateOptions, newCa = false): Promise<WebhookCertificates> {
  const now = opts.now?.() ?? new Date();
  let ca = previous === undefined ? undefined : { certPem: previous.caCertPem, keyPem: previous.caKeyPem };
  let bundle = previous === undefined ? [] : splitCertificates(previous.caBundlePem);
  bundle = bundle.filter((pem) => new Date(new X509Certificate(pem).validTo).getTime() > now.getTime());
  if (ca === undefined || newCa || nearExpiry(ca.certPem, now)) {
    ca = await generateCa(now, opts.caValidityMs ?? DEFAULT_CA_VALIDITY_MS);
    bundle = [ca.certPem, ...bundle];
  }
  const leaf = await issueLeaf(ca, opts, now);
  return { ...leaf, caCertPem: ca.certPem, caKeyPem: ca.keyPem, caBundlePem: bundle.join('') };
}

const KEYS = { cert: 'tls.crt', key: 'tls.key', caCert: 'ca-current.crt', caKey: 'ca.key', caBundle: 'ca.crt' } as const;

function fromSecret(secret: k8s.V1Secret): WebhookCertificates | undefined {
  const d = secret.data ?? {};
  const get = (k: string): string | undefined => (d[k] === undefined ? undefined : Buffer.from(d[k], 'base64').toString('utf8'));
  const certPem = get(KEYS.cert);
  const keyPem = get(KEYS.key);
  const caCertPem = get(KEYS.caCert);
  const caKeyPem = get(KEYS.caKey);
  const caBundlePem = get(KEYS.caBundle);
  if (certPem === undefined || keyPem === undefined || caCertPem === undefined || caKeyPem === undefined || caBundlePem === undefined) return undefined;
  try {
    // Parses, and the key belongs to the certificate.
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) return undefined;
    new X509Certificate(caCertPem);
  } catch {
    return undefined;
  }
  return { certPem, keyPem, caCertPem, caKeyPem, caBundlePem };
}

function toSecretData(c: WebhookCertificates): Record<string, string> {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return { [KEYS.cert]: b64(c.certPem), [KEYS.key]: b64(c.keyPem), [KEYS.caCert]: b64(c.caCertPem), [KEYS.caKey]: b64(c.caKeyPem), [KEYS.caBundle]: b64(c.caBundlePem) };
}

function httpStatus(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

/**
 * Sets `clientConfig.caBundle` of every webhook of a MutatingWebhookConfiguration (read, compare,
 * replace with the read resourceVersion; retried on conflict). No write when already equal. A
 * configuration that does not exist (yet) is skipped: whoever creates it sets the bundle from
 * {@link SecretCertificateManager.ensure}'s result, and the next periodic check patches it anyway.
 * @throws WebhookCertificateError `CaBundlePatchFailed`
 */
export async function publishCaBundle(kc: k8s.KubeConfig, configurationName: string, caBundlePem: string): Promise<void> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const caBundle = Buffer.from(caBundlePem, 'utf8').toString('base64');
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const cfg = await api.readMutatingWebhookConfiguration({ name: configurationName });
      const hooks = cfg.webhooks ?? [];
      if (hooks.every((w) => w.clientConfig.caBundle === caBundle)) return;
      for (const w of hooks) w.clientConfig.caBundle = caBundle;
      await api.replaceMutatingWebhookConfiguration({ name: configurationName, body: cfg });
      return;
    } catch (err) {
      if (httpStatus(err) === 409) continue;
      if (httpStatus(err) === 404) return;
      throw new WebhookCertificateError('CaBundlePatchFailed', `could not set the CA bundle of MutatingWebhookConfiguration ${configurationName}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }
  throw new WebhookCertificateError('CaBundlePatchFailed', `could not set the CA bundle of MutatingWebhookConfiguration ${configurationName}: kept conflicting`);
}

export interface SecretCertificateManagerOptions extends CertificateOptions {
  kc: k8s.KubeConfig;
  /** The operator namespace, where the Secret lives. */
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose CA bundle to keep current; none = do not patch. */
  webhookConfigurationName: string | undefined;
  /** How often to re-check the Secret (renewal, or adopting another replica's). Default 5 min. */
  checkIntervalMs?: number;
  /** Called with each new pair to serve, after the CA bundle that trusts it was published. */
  onChange?: (cert: ServingCertificate) => void;
  /** Called when a periodic check fails (the previous pair keeps being served). */
  onError?: (err: unknown) => void;
}

/** The serving certificate kept in a Secret; see the module comment. */
export class SecretCertificateManager {
  private readonly opts: SecretCertificateManagerOptions;
  private readonly core: k8s.CoreV1Api;
  private served: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(opts: SecretCertificateManagerOptions) {
    this.opts = opts;
    this.core = opts.kc.makeApiClient(k8s.CoreV1Api);
  }

  /**
   * Reads (or creates, or renews) the Secret, publishes the CA bundle and returns the pair to serve;
   * calls `onChange` when it differs from the one served so far. Calls are serialised.
   * @param force `'leaf'` or `'ca'` renews now even when not due (tests, manual rotation); if another
   *   replica writes the Secret at the same time, its result is adopted instead.
   */
  ensure(force?: 'leaf' | 'ca'): Promise<WebhookCertificates> {
    const next = this.running.then(() => this.ensureOnce(force));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async ensureOnce(force: 'leaf' | 'ca' | undefined): Promise<WebhookCertificates> {
    const { namespace, secretName } = this.opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret: k8s.V1Secret | undefined;
      try {
        secret = await this.core.readNamespacedSecret({ namespace, name: secretName });
      } catch (err) {
        if (httpStatus(err) !== 404) throw err;
      }
      const current = secret === undefined ? undefined : fromSecret(secret);
      const forced = attempt === 0 ? force : undefined;
      if (current !== undefined && forced === undefined && !needsRenewal(current, this.opts)) {
        return this.publish(current);
      }
      const next = await renewCertificates(current, this.opts, forced === 'ca');
      const body: k8s.V1Secret = {
        metadata: { name: secretName, namespace, labels: { 'app.kubernetes.io/managed-by': 'kvsync', 'app.kubernetes.io/component': 'webhook' }, resourceVersion: secret?.metadata?.resourceVersion },
        type: 'Opaque',
        data: toSecretData(next),
      };
      try {
        if (secret === undefined) await this.core.createNamespacedSecret({ namespace, body });
        else await this.core.replaceNamespacedSecret({ namespace, name: secretName, body });
      } catch (err) {
        // Another replica created or renewed it first: read theirs.
        if (httpStatus(err) === 409) continue;
        throw err;
      }
      return this.publish(next);
    }
    throw new WebhookCertificateError('Conflict', `Secret ${namespace}/${secretName} kept changing while the webhook certificate was being renewed`);
  }

  private async publish(certs: WebhookCertificates): Promise<WebhookCertificates> {
    if (this.opts.webhookConfigurationName !== undefined) await publishCaBundle(this.opts.kc, this.opts.webhookConfigurationName, certs.caBundlePem);
    if (this.served !== certs.certPem) {
      this.served = certs.certPem;
      this.opts.onChange?.({ certPem: certs.certPem, keyPem: certs.keyPem });
    }
    return certs;
  }

  /** Re-checks periodically until {@link stop}. */
  start(): void {
    this.stop();
    this.timer = setInterval(() => {
      this.ensure().catch((err: unknown) => this.opts.onError?.(err));
    }, this.opts.checkIntervalMs ?? 5 * 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface FileCertificateSourceOptions {
  certFile: string;
  keyFile: string;
  /** Poll interval; polling (not fs.watch) also sees kubelet's symlink swaps. Default 10 s. */
  pollIntervalMs?: number;
  onChange?: (cert: ServingCertificate) => void;
  onError?: (err: unknown) => void;
}

/**
 * Reads a certificate/key pair from files and checks the key matches.
 * @throws WebhookCertificateError `CertificateFilesUnreadable`
 */
export async function readCertificateFiles(certFile: string, keyFile: string): Promise<ServingCertificate> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const leafPem = splitCertificates(certPem)[0];
    if (leafPem === undefined || !new X509Certificate(leafPem).checkPrivateKey(createPrivateKey(keyPem))) {
      throw new Error('the key does not belong to the first certificate');
    }
    return { certPem, keyPem };
  } catch (err) {
    // The message names the files, never their contents.
    throw new WebhookCertificateError('CertificateFilesUnreadable', `cannot use ${certFile} / ${keyFile}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`, err);
  }
}

/** A user-supplied pair, reloaded when either file changes (a half-updated pair is skipped until complete). */
export class FileCertificateSource {
  private readonly opts: FileCertificateSourceOptions;
  private timer: NodeJS.Timeout | undefined;
  private stamp = '';

  constructor(opts: FileCertificateSourceOptions) {
    this.opts = opts;
  }

  private async fingerprint(): Promise<string> {
    const [c, k] = await Promise.all([stat(this.opts.certFile), stat(this.opts.keyFile)]);
    return `${c.mtimeMs}:${c.size}:${c.ino}/${k.mtimeMs}:${k.size}:${k.ino}`;
  }

  /** Reads the pair now. @throws WebhookCertificateError */
  async load(): Promise<ServingCertificate> {
    const stamp = await this.fingerprint().catch(() => '');
    const pair = await readCertificateFiles(this.opts.certFile, this.opts.keyFile);
    this.stamp = stamp;
    return pair;
  }

  /** Polls the files; calls `onChange` with each new complete pair. */
  start(): void {
    this.stop();
    this.timer = setInterval(() => {
      void (async () => {
        const stamp = await this.fingerprint();
        if (stamp === this.stamp) return;
        const pair = await readCertificateFiles(this.opts.certFile, this.opts.keyFile);
        this.stamp = stamp;
        this.opts.onChange?.(pair);
      })().catch((err: unknown) => this.opts.onError?.(err));
    }, this.opts.pollIntervalMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

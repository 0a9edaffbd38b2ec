/**
 * Certificate policies (validation and Key Vault's defaults) and issuance of certificate versions:
 * the X.509 certificate, its chain, the CSR reported by the pending operation, and the value of the
 * backing secret (Key-Vault-like PFX or PEM, per `secret_props.contentType`).
 */
import { X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { badParameter } from '../errors.ts';
import { describeKey, privateKeyToPkcs8Der, signingAlgorithm, toWebCryptoPrivate, toWebCryptoPublic } from '../pki/keys.ts';
import { buildKeyVaultPfx, buildPemBundle, type CertificateBundle } from '../pki/pfx.ts';
import { issueCertificate, KEY_USAGE_NAMES, type SigningIdentity } from '../pki/x509.ts';
import type { CertificatePolicyWire } from './model.ts';

export const PKCS12 = 'application/x-pkcs12';
export const PEM = 'application/x-pem-file';
const DEFAULT_EKUS = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
const DEFAULT_KEY_USAGE = ['digitalSignature', 'keyEncipherment'];
/** Key Vault backdates `nbf` by 10 minutes. */
const BACKDATE_SECONDS = 600;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strArray = (v: unknown, what: string): string[] | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badParameter(`Property ${what} has invalid value`);
  return v;
};

/** Validates a policy from a create request and fills in Key Vault's defaults. */
export function normalizePolicy(raw: Obj, now: number): CertificatePolicyWire {
  const kp = isObj(raw.key_props) ? raw.key_props : {};
  const sp = isObj(raw.secret_props) ? raw.secret_props : {};
  const xp = isObj(raw.x509_props) ? raw.x509_props : {};
  const ip = isObj(raw.issuer) ? raw.issuer : {};
  const kty = typeof kp.kty === 'string' ? kp.kty : 'RSA';
  const isEc = kty.startsWith('EC');
  const contentType = typeof sp.contentType === 'string' ? sp.contentType : PKCS12;
  if (contentType !== PKCS12 && contentType !== PEM) throw badParameter(`The content type ${contentType} is not supported. Supported values are ${PKCS12} and ${PEM}.`);
  const sansRaw = isObj(xp.sans) ? xp.sans : {};
  const sans: CertificatePolicyWire['x509_props']['sans'] = {};
  for (const key of ['emails', 'dns_names', 'upns', 'ip_addresses', 'uris'] as const) {
    const v = strArray(sansRaw[key], `x509_props.sans.${key}`);
    if (v !== undefined) sans[key] = v;
  }
  const subject = typeof xp.subject === 'string' && xp.subject !== '' ? xp.subject : undefined;
  if (subject === undefined && (sans.dns_names ?? []).length === 0 && (sans.emails ?? []).length === 0 && (sans.upns ?? []).length === 0) {
    throw badParameter('The policy must specify a subject or subject alternative names.');
  }
  const keyUsage = strArray(xp.key_usage, 'x509_props.key_usage') ?? (isEc ? ['digitalSignature'] : DEFAULT_KEY_USAGE);
  for (const u of keyUsage) if (!KEY_USAGE_NAMES.includes(u)) throw badParameter(`Invalid key usage: ${u}`);
  const validity = typeof xp.validity_months === 'number' ? xp.validity_months : 12;
  if (!Number.isInteger(validity) || validity < 1 || validity > 1200) throw badParameter('Property x509_props.validity_months has invalid value');
  const issuerName = typeof ip.name === 'string' && ip.name !== '' ? ip.name : 'Self';
  const keyProps: CertificatePolicyWire['key_props'] = {
    exportable: typeof kp.exportable === 'boolean' ? kp.exportable : true,
    kty,
    reuse_key: kp.reuse_key === true,
  };
  if (isEc) keyProps.crv = typeof kp.crv === 'string' ? kp.crv : 'P-256';
  else keyProps.key_size = typeof kp.key_size === 'number' ? kp.key_size : 2048;
  const lifetime = Array.isArray(raw.lifetime_actions) ? (raw.lifetime_actions as CertificatePolicyWire['lifetime_actions']) : undefined;
  return {
    key_props: keyProps,
    secret_props: { contentType },
    x509_props: {
      ...(subject === undefined ? {} : { subject }),
      // Key Vault leaves `sans` out of a policy without any.
      ...(Object.keys(sans).length === 0 ? {} : { sans }),
      ekus: strArray(xp.ekus, 'x509_props.ekus') ?? DEFAULT_EKUS,
      key_usage: keyUsage,
      validity_months: validity,
      basic_constraints: { ca: false },
    },
    lifetime_actions: lifetime ?? [{ trigger: { lifetime_percentage: 80 }, action: { action_type: issuerName.toLowerCase() === 'unknown' ? 'EmailContacts' : 'AutoRenew' } }],
    issuer: { name: issuerName, ...(typeof ip.cty === 'string' ? { cty: ip.cty } : {}), ...(typeof ip.cert_transparency === 'boolean' ? { cert_transparency: ip.cert_transparency } : {}) },
    attributes: { enabled: true, created: now, updated: now },
  };
}

/** What a new certificate version consists of. */
export interface IssuedCertificate {
  /** Leaf first, then the chain. */
  certsDer: Buffer[];
  privateKey: KeyObject | undefined;
  notBefore: number;
  notAfter: number;
  /** Value of the backing secret (base64 PFX or PEM text). */
  secretValue: string;
  /** PKCS#10 request (base64 DER), reported by the pending operation. */
  csr: string;
}

/** Builds the backing secret's value and the validity from an existing chain and key. */
export function issuedFrom(certsDer: Buffer[], privateKey: KeyObject | undefined, policy: CertificatePolicyWire, csr: string): IssuedCertificate {
  const leaf = new NodeX509(certsDer[0] ?? Buffer.alloc(0));
  const exportable = policy.key_props.exportable !== false && privateKey !== undefined;
  const keyDer = exportable && privateKey !== undefined ? privateKeyToPkcs8Der(privateKey) : undefined;
  const secretValue = policy.secret_props.contentType === PEM ? buildPemBundle(keyDer, certsDer) : buildKeyVaultPfx(keyDer, certsDer).toString('base64');
  return {
    certsDer,
    privateKey,
    notBefore: Math.floor(Date.parse(leaf.validFrom) / 1000),
    notAfter: Math.floor(Date.parse(leaf.validTo) / 1000),
    secretValue,
    csr,
  };
}

function subjectOf(policy: CertificatePolicyWire): string {
  return policy.x509_props.subject ?? `CN=${policy.x509_props.sans?.dns_names?.[0] ?? policy.x509_props.sans?.emails?.[0] ?? 'certificate'}`;
}

/** Issues a new certificate version for `key` from `policy`, self-signed or by a test CA issuer. */
export async function issueCertificateVersion(policy: CertificatePolicyWire, key: KeyObject, issuer: SigningIdentity | undefined, now: Date): Promise<IssuedCertificate> {
  const nowSec = Math.floor(now.getTime() / 1000);
  const months = policy.x509_props.validity_months ?? 12;
  const subject = subjectOf(policy);
  let leafDer: Buffer;
  try {
    leafDer = await issueCertificate(
      {
        subject,
        dnsNames: policy.x509_props.sans?.dns_names ?? [],
        ipAddresses: policy.x509_props.sans?.ip_addresses ?? [],
        emails: policy.x509_props.sans?.emails ?? [],
        ekus: policy.x509_props.ekus ?? [],
        keyUsage: policy.x509_props.key_usage ?? [],
        notBefore: new Date((nowSec - BACKDATE_SECONDS) * 1000),
        notAfter: new Date((nowSec + Math.round((months * 365 * 86400) / 12)) * 1000),
        subjectKey: key,
      },
      issuer,
    );
  } catch (err) {
    throw badParameter(`The certificate could not be issued from the policy: ${err instanceof Error ? err.message : String(err)}`);
  }
  const chain = issuer === undefined ? [] : [issuer.certDer, ...issuer.chainDer];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys: { privateKey: toWebCryptoPrivate(key), publicKey: toWebCryptoPublic(key) },
    signingAlgorithm: signingAlgorithm(describeKey(key)),
  });
  return issuedFrom([leafDer, ...chain], key, policy, Buffer.from(csr.rawData).toString('base64'));
}

/** Key Vault's names of the leaf's key usages (none without the extension). */
function keyUsageNames(leaf: x509.X509Certificate): string[] {
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  if (ku === null) return [];
  const flags: [x509.KeyUsageFlags, string][] = [
    [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
    [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
    [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
    [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
    [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
    [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
    [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
    [x509.KeyUsageFlags.encipherOnly, 'encipherOnly'],
    [x509.KeyUsageFlags.decipherOnly, 'decipherOnly'],
  ];
  return flags.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n);
}

/** The policy Key Vault reports for an imported certificate (issuer `Unknown`, fields read from the leaf). */
export function policyFromCertificate(bundle: CertificateBundle, requested: Obj, format: 'pem' | 'pfx', now: number): CertificatePolicyWire {
  const leafDer = bundle.certsDer[0] ?? Buffer.alloc(0);
  const leaf = new x509.X509Certificate(leafDer);
  const sp = isObj(requested.secret_props) ? requested.secret_props : {};
  const kp = isObj(requested.key_props) ? requested.key_props : {};
  const contentType = typeof sp.contentType === 'string' ? sp.contentType : format === 'pem' ? PEM : PKCS12;
  if (contentType !== PKCS12 && contentType !== PEM) throw badParameter(`The content type ${contentType} is not supported.`);
  const spec = bundle.privateKey === undefined ? undefined : describeKey(bundle.privateKey);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const dnsNames = san?.names.items.filter((n) => n.type === 'dns').map((n) => n.value) ?? [];
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  const months = Math.max(1, Math.round((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / (30.4 * 86400 * 1000)));
  return {
    key_props: {
      exportable: typeof kp.exportable === 'boolean' ? kp.exportable : true,
      kty: spec?.family ?? 'RSA',
      ...(spec?.family === 'EC' ? { crv: spec.curve ?? 'P-256' } : { key_size: spec?.keySize ?? 2048 }),
      reuse_key: false,
    },
    secret_props: { contentType },
    x509_props: {
      subject: leaf.subject,
      ...(dnsNames.length > 0 ? { sans: { dns_names: dnsNames } } : {}),
      ekus: eku === null ? [] : eku.usages.map(String),
      key_usage: keyUsageNames(leaf),
      validity_months: months,
      basic_constraints: { ca: false },
    },
    lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'EmailContacts' } }],
    issuer: { name: 'Unknown' },
    attributes: { enabled: true, created: now, updated: now },
  };
}

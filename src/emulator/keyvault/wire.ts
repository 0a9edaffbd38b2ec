/**
 * Rendering of stored objects into Key Vault's JSON bundles, with ids built from the request's base URL
 * (`https://<host>:<port>`), and the paging of list results (`maxresults` ≤ 25, absolute `nextLink`).
 */
import { X509Certificate } from 'node:crypto';
import { KeyVaultError } from '../errors.ts';
import { privateKeyFromPkcs8Der, publicJwk, type PublicJwk } from '../pki/keys.ts';
import { x5tOf } from '../pki/x509.ts';
import {
  RECOVERABLE_DAYS,
  RECOVERY_LEVEL,
  type CertificateEntry,
  type CertificatePolicyWire,
  type CertificateVersion,
  type DeletionInfo,
  type KeyEntry,
  type KeyVersion,
  type ObjectAttributes,
  type PendingOperation,
  type SecretEntry,
  type SecretVersion,
} from './model.ts';

export type Json = Record<string, unknown>;

export function attributesWire(a: ObjectAttributes, extra: Json = {}): Json {
  return {
    enabled: a.enabled,
    ...(a.nbf === undefined ? {} : { nbf: a.nbf }),
    ...(a.exp === undefined ? {} : { exp: a.exp }),
    created: a.created,
    updated: a.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
    ...extra,
  };
}

const withTags = (tags: Record<string, string> | undefined): Json => (tags === undefined ? {} : { tags });

function deletedWire(base: string, kind: string, name: string, d: DeletionInfo | undefined): Json {
  if (d === undefined) return {};
  return { recoveryId: `${base}/${kind}/${name}`, deletedDate: d.deletedDate, scheduledPurgeDate: d.scheduledPurgeDate };
}

export function secretBundle(base: string, entry: SecretEntry, v: SecretVersion, withValue: boolean): Json {
  return {
    ...(withValue ? { value: v.value } : {}),
    ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    id: `${base}/secrets/${entry.name}/${v.version}`,
    ...(v.managed === true ? { managed: true } : {}),
    attributes: attributesWire(v.attributes),
    ...withTags(v.tags),
    ...(v.keyRef === undefined ? {} : { kid: `${base}/keys/${v.keyRef}` }),
    ...deletedWire(base, 'deletedsecrets', entry.name, entry.deleted),
  };
}

/** List item: no value; versionless id in `GET /secrets`, versioned id in `/versions`. */
export function secretItem(base: string, entry: SecretEntry, v: SecretVersion, versioned: boolean): Json {
  return {
    id: versioned ? `${base}/secrets/${entry.name}/${v.version}` : `${base}/secrets/${entry.name}`,
    attributes: attributesWire(v.attributes),
    ...withTags(v.tags),
    ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    ...(v.managed === true ? { managed: true } : {}),
    ...deletedWire(base, 'deletedsecrets', entry.name, entry.deleted),
  };
}

export function keyJwk(base: string, entry: KeyEntry, v: KeyVersion): PublicJwk {
  return publicJwk(privateKeyFromPkcs8Der(Buffer.from(v.pkcs8, 'base64')), `${base}/keys/${entry.name}/${v.version}`, v.kty, v.keyOps);
}

export function keyBundle(base: string, entry: KeyEntry, v: KeyVersion): Json {
  return {
    key: keyJwk(base, entry, v),
    attributes: attributesWire(v.attributes, v.attributes.exportable === undefined ? {} : { exportable: v.attributes.exportable }),
    ...withTags(v.tags),
    ...(v.managed === true ? { managed: true } : {}),
    ...deletedWire(base, 'deletedkeys', entry.name, entry.deleted),
  };
}

export function keyItem(base: string, entry: KeyEntry, v: KeyVersion, versioned: boolean): Json {
  return {
    kid: versioned ? `${base}/keys/${entry.name}/${v.version}` : `${base}/keys/${entry.name}`,
    attributes: attributesWire(v.attributes, v.attributes.exportable === undefined ? {} : { exportable: v.attributes.exportable }),
    ...withTags(v.tags),
    ...(v.managed === true ? { managed: true } : {}),
  };
}

export function policyWire(base: string, name: string, p: CertificatePolicyWire): Json {
  return { id: `${base}/certificates/${name}/policy`, ...p };
}

export function certificateBundle(base: string, entry: CertificateEntry, v: CertificateVersion, includePolicy: boolean): Json {
  const cer = Buffer.from(v.cer, 'base64');
  return {
    id: `${base}/certificates/${entry.name}/${v.version}`,
    kid: `${base}/keys/${entry.name}/${v.version}`,
    sid: `${base}/secrets/${entry.name}/${v.version}`,
    x5t: x5tOf(cer),
    cer: v.cer,
    attributes: attributesWire(v.attributes),
    ...withTags(v.tags),
    ...(includePolicy ? { policy: policyWire(base, entry.name, entry.policy) } : {}),
    ...(entry.pending === undefined ? {} : { pending: { id: `${base}/certificates/${entry.name}/pending` } }),
    ...deletedWire(base, 'deletedcertificates', entry.name, entry.deleted),
  };
}

/** A versioned GET: no policy, no pending link, but the leaf's subject, issuer and serial number. */
export function certificateVersionBundle(base: string, entry: CertificateEntry, v: CertificateVersion): Json {
  const { policy: _policy, pending: _pending, ...bundle } = certificateBundle(base, entry, v, false);
  const leaf = new X509Certificate(Buffer.from(v.cer, 'base64'));
  const dn = (name: string): string => name.split('\n').join(', ');
  return { ...bundle, subject: dn(leaf.subject), issuer: dn(leaf.issuer), serialnumber: leaf.serialNumber.toUpperCase() };
}

/** List item: Key Vault's certificate items carry no recovery level, and an empty `subject`. */
export function certificateItem(base: string, entry: CertificateEntry, v: CertificateVersion, versioned: boolean): Json {
  const { recoveryLevel: _level, recoverableDays: _days, ...attributes } = attributesWire(v.attributes);
  return {
    id: versioned ? `${base}/certificates/${entry.name}/${v.version}` : `${base}/certificates/${entry.name}`,
    x5t: x5tOf(Buffer.from(v.cer, 'base64')),
    attributes,
    ...withTags(v.tags),
    subject: '',
    ...(entry.pending === undefined || entry.pending.status === 'completed' ? {} : { pending: { id: `${base}/certificates/${entry.name}/pending` } }),
    ...deletedWire(base, 'deletedcertificates', entry.name, entry.deleted),
  };
}

export function pendingWire(base: string, name: string, p: PendingOperation): Json {
  return {
    id: `${base}/certificates/${name}/pending`,
    issuer: { name: p.issuerName },
    csr: p.csr,
    cancellation_requested: false,
    status: p.status,
    ...(p.status === 'inProgress'
      ? { status_details: 'Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.' }
      : {}),
    ...(p.status === 'completed' ? { target: `${base}/certificates/${name}` } : {}),
    ...(p.error === undefined ? {} : { error: p.error }),
    request_id: p.requestId,
  };
}

/** Key Vault's page size bound. */
export const MAX_PAGE_SIZE = 25;

/**
 * Returns one page of `items` and the absolute `nextLink` (null on the last page). The skip token is
 * opaque to clients (base64 of the offset); `nextLink` carries the request's api-version and maxresults.
 */
export function page(items: Json[], requestUrl: URL, base: string, path: string): Json {
  const maxRaw = requestUrl.searchParams.get('maxresults');
  let max = MAX_PAGE_SIZE;
  if (maxRaw !== null && maxRaw !== '') {
    max = Number(maxRaw);
    if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE_SIZE) {
      throw new KeyVaultError(400, 'BadParameter', `Invalid value for maxresults: ${maxRaw}. The value must be between 1 and ${MAX_PAGE_SIZE}.`);
    }
  }
  const token = requestUrl.searchParams.get('$skiptoken');
  let offset = 0;
  if (token !== null) {
    offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) throw new KeyVaultError(400, 'BadParameter', 'Invalid $skiptoken.');
  }
  const slice = items.slice(offset, offset + max);
  let nextLink: string | null = null;
  if (offset + max < items.length) {
    // Key Vault's shape: `<vault>/<path>?api-version=…&$skiptoken=…[&maxresults=N]` (the `$` not encoded;
    // maxresults only when the client gave it).
    const apiVersion = encodeURIComponent(requestUrl.searchParams.get('api-version') ?? '7.5');
    const skipToken = Buffer.from(String(offset + max)).toString('base64url');
    nextLink = `${base}${path}?api-version=${apiVersion}&$skiptoken=${skipToken}${maxRaw === null || maxRaw === '' ? '' : `&maxresults=${max}`}`;
  }
  return { value: slice, nextLink };
}

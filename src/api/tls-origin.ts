/**
 * The KeyVaultSync kvsync derives from an annotated Ingress or a Gateway whose listeners carry kvsync's
 * `tls.options`: one `kubernetes.io/tls` Secret per referenced secret name, from the named Key Vault
 * certificate, with the named identity. The derived KeyVaultSync is owned by its Ingress/Gateway
 * (owner reference) and labelled with its origin, so grants, limits, rotation, drift repair, ownership
 * checks and deletion are those of every KeyVaultSync. Pure: src/controller/tls-sources.ts applies it.
 */
import { createHash } from 'node:crypto';
import { API_VERSION, parseKeyVaultSync, type VaultHostPolicy } from './index.ts';
import { parseTlsRequest, TLS_SECRET_NAME_KEY, type TlsCertificateRequest } from './tls-annotations.ts';

/** On a derived KeyVaultSync: the kind it was derived from (`Ingress` or `Gateway`). Selects them; the owner reference proves the origin. */
export const TLS_ORIGIN_LABEL = 'kvsync.dev/tls-origin';

export const INGRESS_API_VERSION = 'networking.k8s.io/v1';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_API_VERSION = `${GATEWAY_GROUP}/v1`;

export type TlsSourceKind = 'Ingress' | 'Gateway';

/** The Ingress or Gateway a KeyVaultSync is derived from. */
export interface TlsSource {
  kind: TlsSourceKind;
  name: string;
  namespace: string;
  uid: string;
}

/** The parts of an Ingress this reads (networking.k8s.io/v1). */
export interface IngressLike {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
  spec?: { tls?: { secretName?: string }[] };
}

/** The parts of a Gateway this reads (gateway.networking.k8s.io/v1). */
export interface GatewayLike {
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: {
    listeners?: {
      name?: string;
      tls?: { mode?: string; certificateRefs?: { group?: string; kind?: string; name?: string; namespace?: string }[]; options?: Record<string, string> };
    }[];
  };
}

/** A KeyVaultSync as kvsync applies it for a source. */
export interface DerivedSync {
  apiVersion: string;
  kind: 'KeyVaultSync';
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean }[] };
  spec: Record<string, unknown>;
}

export type Derivation =
  /** The source asks kvsync for nothing. */
  | { kind: 'none' }
  /** It asks, but cannot be served as written: `message` says what to change (no values). */
  | { kind: 'refused'; reason: 'InvalidTLSRequest'; message: string }
  | { kind: 'sync'; sync: DerivedSync; secrets: string[] };

const MAX_SYNC_NAME = 63;

/**
 * The derived KeyVaultSync's name, `<kind>-tls.<source>` in lower case (never a name a user would
 * pick by chance); names too long for a label value keep a prefix and end in a hash of the full name.
 */
export function derivedSyncName(kind: TlsSourceKind, name: string): string {
  const full = `${kind.toLowerCase()}-tls.${name}`;
  if (full.length <= MAX_SYNC_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  return `${full.slice(0, MAX_SYNC_NAME - hash.length - 1).replace(/[.-]+$/, '')}-${hash}`;
}

/** The source of a derived KeyVaultSync, from its label and controller owner reference; undefined for any other KeyVaultSync. */
export function sourceOf(sync: { metadata?: { namespace?: string; labels?: Record<string, string>; ownerReferences?: { apiVersion?: string; kind?: string; name?: string; uid?: string; controller?: boolean }[] } }): TlsSource | undefined {
  const kind = sync.metadata?.labels?.[TLS_ORIGIN_LABEL];
  if (kind !== 'Ingress' && kind !== 'Gateway') return undefined;
  const apiVersion = kind === 'Ingress' ? INGRESS_API_VERSION : GATEWAY_API_VERSION;
  const ref = sync.metadata?.ownerReferences?.find((r) => r.controller === true && r.kind === kind && r.apiVersion === apiVersion);
  if (ref?.name === undefined || ref.uid === undefined) return undefined;
  return { kind, name: ref.name, namespace: sync.metadata?.namespace ?? '', uid: ref.uid };
}

/** What an Ingress asks for: its kvsync annotations, written into the Secret its `spec.tls` names. */
export function deriveIngressSync(ingress: IngressLike, policy: VaultHostPolicy): Derivation {
  const request = parseTlsRequest(ingress.metadata?.annotations);
  if (request === undefined) return { kind: 'none' };
  if (!request.ok) return refused(request.message);
  const names = [...new Set((ingress.spec?.tls ?? []).map((t) => t.secretName).filter((n): n is string => n !== undefined && n !== ''))];
  const chosen = ingress.metadata?.annotations?.[TLS_SECRET_NAME_KEY]?.trim();
  let secretName: string;
  if (chosen !== undefined) {
    if (!names.includes(chosen)) return refused(`${TLS_SECRET_NAME_KEY} names "${chosen}", which no spec.tls entry of this Ingress references`);
    secretName = chosen;
  } else if (names.length === 1) {
    secretName = names[0] ?? '';
  } else if (names.length === 0) {
    return refused('the Ingress has no spec.tls entry with a secretName for the certificate');
  } else {
    return refused(`spec.tls references several Secrets (${names.join(', ')}): say which one holds this certificate with ${TLS_SECRET_NAME_KEY}`);
  }
  return build(source('Ingress', ingress.metadata), [{ secretName, request: request.value }], policy);
}

/**
 * What a Gateway asks for: each listener whose `tls.options` carry kvsync's keys gets its first
 * `certificateRefs` Secret (in the Gateway's namespace) filled. Listeners naming the same Secret must
 * ask for the same certificate.
 */
export function deriveGatewaySync(gateway: GatewayLike, policy: VaultHostPolicy): Derivation {
  const namespace = gateway.metadata?.namespace ?? '';
  const wanted = new Map<string, { listener: string; request: TlsCertificateRequest }>();
  for (const l of gateway.spec?.listeners ?? []) {
    const request = parseTlsRequest(l.tls?.options);
    if (request === undefined) continue;
    const listener = l.name ?? '';
    if (!request.ok) return refused(`listener ${listener}: ${request.message}`);
    if (l.tls?.mode !== undefined && l.tls.mode !== 'Terminate') return refused(`listener ${listener}: tls.mode ${l.tls.mode} terminates no TLS; kvsync fills certificates of Terminate listeners`);
    const ref = l.tls?.certificateRefs?.[0];
    if (ref?.name === undefined) return refused(`listener ${listener}: tls.certificateRefs names no Secret for the certificate`);
    if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') return refused(`listener ${listener}: tls.certificateRefs[0] is not a core Secret`);
    if (ref.namespace !== undefined && ref.namespace !== namespace) return refused(`listener ${listener}: tls.certificateRefs[0] is in namespace ${ref.namespace}; kvsync writes Secrets only in the Gateway's own namespace`);
    const before = wanted.get(ref.name);
    if (before !== undefined && JSON.stringify(before.request) !== JSON.stringify(request.value)) {
      return refused(`listeners ${before.listener} and ${listener} ask for different certificates in the same Secret ${ref.name}`);
    }
    wanted.set(ref.name, { listener, request: request.value });
  }
  if (wanted.size === 0) return { kind: 'none' };
  return build(
    source('Gateway', gateway.metadata),
    [...wanted].map(([secretName, w]) => ({ secretName, request: w.request })),
    policy,
  );
}

function refused(message: string): Derivation {
  return { kind: 'refused', reason: 'InvalidTLSRequest', message };
}

function source(kind: TlsSourceKind, m: { name?: string; namespace?: string; uid?: string } | undefined): TlsSource {
  return { kind, name: m?.name ?? '', namespace: m?.namespace ?? '', uid: m?.uid ?? '' };
}

/**
 * One KeyVaultSync for every Secret the source asks for, checked with the KeyVaultSync's own parse
 * (the apiserver's rules and the vault host policy), so a source that cannot be served is refused
 * before anything is applied. One KeyVaultSync has one vault and identity: a source asking for several
 * is refused.
 */
function build(src: TlsSource, wanted: { secretName: string; request: TlsCertificateRequest }[], policy: VaultHostPolicy): Derivation {
  const first = wanted[0]?.request;
  if (first === undefined) return { kind: 'none' };
  const same = (r: TlsCertificateRequest): boolean => r.vaultUrl === first.vaultUrl && r.tenantID === first.tenantID && r.deletionPolicy === first.deletionPolicy && JSON.stringify(r.identity) === JSON.stringify(first.identity);
  if (!wanted.every((w) => same(w.request))) return refused('the listeners name different vaults, tenants, identities or deletion policies; one Gateway uses one of each');
  // One object per distinct certificate version, named as the Secret it fills first.
  const objects: { name: string; type: 'certificate'; alias: string; version?: string }[] = [];
  const aliasOf = new Map<string, string>();
  const secretObjects = wanted.map(({ secretName, request }) => {
    const id = `${request.certificate}/${request.version ?? ''}`;
    let alias = aliasOf.get(id);
    if (alias === undefined) {
      alias = `cert-${objects.length}`;
      aliasOf.set(id, alias);
      objects.push({ name: request.certificate, type: 'certificate', alias, ...(request.version === undefined ? {} : { version: request.version }) });
    }
    return { secretName, type: 'kubernetes.io/tls', data: [{ objectName: alias }] };
  });
  const sync: DerivedSync = {
    apiVersion: API_VERSION,
    kind: 'KeyVaultSync',
    metadata: {
      name: derivedSyncName(src.kind, src.name),
      namespace: src.namespace,
      labels: { [TLS_ORIGIN_LABEL]: src.kind },
      ownerReferences: [{ apiVersion: src.kind === 'Ingress' ? INGRESS_API_VERSION : GATEWAY_API_VERSION, kind: src.kind, name: src.name, uid: src.uid, controller: true }],
    },
    spec: {
      vault: { url: first.vaultUrl, ...(first.tenantID === undefined ? {} : { tenantID: first.tenantID }) },
      identity: first.identity,
      objects,
      secretObjects,
      deletionPolicy: first.deletionPolicy,
    },
  };
  const parsed = parseKeyVaultSync(sync, policy);
  if (!parsed.ok) return refused(parsed.error.message);
  return { kind: 'sync', sync, secrets: wanted.map((w) => w.secretName) };
}

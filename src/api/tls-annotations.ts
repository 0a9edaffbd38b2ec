/**
 * The keys that ask kvsync for a TLS Secret from an Ingress's annotations or a Gateway listener's
 * `tls.options` (the same keys in both places), and the one parser that turns them into a request.
 * Pure: the controller derives a KeyVaultSync from the result (src/api/tls-origin.ts).
 */
import type { KeyVaultSyncSpec } from './keyvaultsync-schema.ts';

/** `https://<vault host>/certificates/<name>[/<version>]`: the Key Vault certificate to serve. */
export const TLS_CERTIFICATE_KEY = 'kvsync.dev/tls-certificate';
/** `<mode>:<name>`: workloadIdentity:<ServiceAccount>, podIdentity:<KeyVaultIdentity>, managedIdentity:<KeyVaultIdentity>, servicePrincipal:<Secret>. */
export const TLS_IDENTITY_KEY = 'kvsync.dev/tls-identity';
/** The Entra tenant of the vault (required by workloadIdentity and servicePrincipal). */
export const TLS_TENANT_KEY = 'kvsync.dev/tls-tenant-id';
/** `Delete` (default) or `Retain`: whether the Secret goes when the annotation or its owner goes. */
export const TLS_DELETION_POLICY_KEY = 'kvsync.dev/tls-deletion-policy';
/** Ingress only: which `spec.tls[].secretName` to write when the Ingress names several. */
export const TLS_SECRET_NAME_KEY = 'kvsync.dev/tls-secret-name';

const IDENTITY_MODES = ['workloadIdentity', 'podIdentity', 'managedIdentity', 'servicePrincipal'] as const;
type IdentityMode = (typeof IDENTITY_MODES)[number];

export interface TlsCertificateRequest {
  /** The vault's origin as written (`https://host[:port]`); the KeyVaultSync's parse makes it canonical. */
  vaultUrl: string;
  certificate: string;
  /** A pinned version, or undefined for the current one. */
  version: string | undefined;
  tenantID: string | undefined;
  identity: NonNullable<KeyVaultSyncSpec['identity']>;
  deletionPolicy: 'Delete' | 'Retain';
}

export type TlsRequestResult = { ok: true; value: TlsCertificateRequest } | { ok: false; message: string };

const CERTIFICATE_PATH = /^\/certificates\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-fA-F]{32}))?\/?$/;

/**
 * The request the keys of `map` make, undefined when `map` has no {@link TLS_CERTIFICATE_KEY} (kvsync
 * is not asked), or why the keys cannot be used. Messages quote only the keys' own values.
 */
export function parseTlsRequest(map: Readonly<Record<string, string>> | undefined): TlsRequestResult | undefined {
  const uri = map?.[TLS_CERTIFICATE_KEY];
  if (map === undefined || uri === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(uri.trim());
  } catch {
    return { ok: false, message: `${TLS_CERTIFICATE_KEY} is not a URL; use https://<vault>.vault.azure.net/certificates/<name>` };
  }
  const path = CERTIFICATE_PATH.exec(parsed.pathname);
  if (parsed.protocol !== 'https:' || path === null || parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '') {
    return { ok: false, message: `${TLS_CERTIFICATE_KEY} must be https://<vault host>/certificates/<name> or .../<name>/<32-hex version>` };
  }
  const identity = parseIdentity(map[TLS_IDENTITY_KEY]);
  if (!identity.ok) return identity;
  const tenantID = map[TLS_TENANT_KEY]?.trim();
  if (tenantID === undefined && (identity.mode === 'workloadIdentity' || identity.mode === 'servicePrincipal')) {
    return { ok: false, message: `${identity.mode} needs the vault's tenant: set ${TLS_TENANT_KEY}` };
  }
  const deletionPolicy = map[TLS_DELETION_POLICY_KEY]?.trim() ?? 'Delete';
  if (deletionPolicy !== 'Delete' && deletionPolicy !== 'Retain') return { ok: false, message: `${TLS_DELETION_POLICY_KEY} must be Delete or Retain` };
  return { ok: true, value: { vaultUrl: parsed.origin, certificate: path[1] ?? '', version: path[2]?.toLowerCase(), tenantID, identity: identity.value, deletionPolicy } };
}

function parseIdentity(text: string | undefined): { ok: true; mode: IdentityMode; value: TlsCertificateRequest['identity'] } | { ok: false; message: string } {
  const usage = `${TLS_IDENTITY_KEY} must be <mode>:<name> with mode ${IDENTITY_MODES.join(', ')} (e.g. workloadIdentity:my-serviceaccount)`;
  if (text === undefined) return { ok: false, message: `the identity to read the vault with is missing: ${usage}` };
  const i = text.indexOf(':');
  const mode = text.slice(0, i).trim();
  const name = text.slice(i + 1).trim();
  if (i < 0 || name === '' || !(IDENTITY_MODES as readonly string[]).includes(mode)) return { ok: false, message: usage };
  switch (mode as IdentityMode) {
    case 'workloadIdentity':
      return { ok: true, mode: 'workloadIdentity', value: { workloadIdentity: { serviceAccountName: name } } };
    case 'podIdentity':
      return { ok: true, mode: 'podIdentity', value: { podIdentity: { identityRef: name } } };
    case 'managedIdentity':
      return { ok: true, mode: 'managedIdentity', value: { managedIdentity: { identityRef: name } } };
    case 'servicePrincipal':
      return { ok: true, mode: 'servicePrincipal', value: { servicePrincipal: { secretRef: { name } } } };
  }
}

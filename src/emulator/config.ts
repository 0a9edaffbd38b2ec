/**
 * The emulator's YAML configuration: tenant, vaults with seed objects, principals, role assignments,
 * IMDS identities, test CA issuers, throttling. `loadEmulatorConfig` validates and normalises it (every
 * principal gets an explicit client and object ID) and throws `EmulatorConfigError` naming the field.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { EmulatorConfigError } from './errors.ts';
import type { FederatedCredentialConfig, ManagedIdentityConfig, ServicePrincipalConfig } from './identity/contract.ts';
import { ROLE_NAMES, type RoleName } from './keyvault/rbac.ts';

export const DEFAULT_TENANT_ID = '00000000-0000-0000-0000-000000000000';
export const DEFAULT_VAULT_NAME = 'devkv';
export const DEFAULT_TEST_CA_ISSUER = 'EmulatorTestCA';
/** Azure's published limit for secret/certificate GETs: 4000 transactions per vault per 10 s. */
export const AZURE_TRANSACTIONS_PER_10S = 4000;

export interface SeedSecret {
  name: string;
  value: string;
  contentType?: string;
  enabled?: boolean;
  /** Unix seconds. */
  notBefore?: number;
  expires?: number;
  tags?: Record<string, string>;
}

export interface SeedCertificate {
  name: string;
  /** Generate from a policy: `Self` or a configured issuer name. Ignored when `file` is given. */
  issuer: string;
  subject: string;
  dnsNames: string[];
  keyType: 'RSA' | 'EC';
  keySize?: number;
  curve?: string;
  contentType: 'application/x-pkcs12' | 'application/x-pem-file';
  validityMonths: number;
  /** Import this PFX or PEM file instead of generating. */
  file?: string;
  password?: string;
}

export interface VaultConfig {
  name: string;
  /** Requests per 10-second window before 429 (Azure-like throttling). */
  requestsPer10s: number;
  secrets: SeedSecret[];
  certificates: SeedCertificate[];
}

export interface RoleAssignmentConfig {
  /** Object ID of the principal (names and client IDs in the YAML are resolved to it). */
  principalObjectId: string;
  role: RoleName;
  /** Vault name or `*`. */
  vault: string;
  /** Optional object scope inside the vault: `secrets/<name>`, `certificates/<name>`, `keys/<name>`. */
  scope?: string;
}

export interface TestCaIssuerConfig {
  name: string;
  /** PEM files of an existing CA; generated per run (root + intermediate) when absent. */
  certFile?: string;
  keyFile?: string;
}

export interface EmulatorConfig {
  tenantId: string;
  vaults: VaultConfig[];
  servicePrincipals: Array<ServicePrincipalConfig & { objectId: string }>;
  managedIdentities: Array<ManagedIdentityConfig & { objectId: string }>;
  /** Names of managed identities IMDS serves ("assigned to this node"). */
  imdsIdentities: string[];
  roleAssignments: RoleAssignmentConfig[];
  issuers: TestCaIssuerConfig[];
  /** PEM contents of CA files trusted for federated-credential issuers and Event Grid webhooks. */
  trustedIssuerCaPems: string[];
  /** Seconds between near-expiry/expired checks. */
  expiryCheckSeconds: number;
  /** Days before `exp` at which a NearExpiry event fires (Key Vault: 30). */
  nearExpiryDays: number;
  /** Seconds a created certificate version stays pending (`inProgress`) before it is stored; 0 = at once. */
  certificatePendingSeconds: number;
}

/** A deterministic GUID-shaped ID, so that configs need not spell out object IDs. */
export function derivedGuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(path: string, message: string): never {
  throw new EmulatorConfigError(`config ${path}: ${message}`);
}

function str(o: Obj, key: string, path: string, def?: string): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    fail(`${path}.${key}`, 'is required');
  }
  if (typeof v !== 'string' || v === '') fail(`${path}.${key}`, 'must be a non-empty string');
  return v;
}

function optStr(o: Obj, key: string, path: string): string | undefined {
  return o[key] === undefined || o[key] === null ? undefined : str(o, key, path);
}

function num(o: Obj, key: string, path: string, def: number): number {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${path}.${key}`, 'must be a non-negative number');
  return v;
}

function list(o: Obj, key: string, path: string): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${path}.${key}`, 'must be a list');
  return v;
}

function strList(o: Obj, key: string, path: string): string[] {
  return list(o, key, path).map((v, i) => {
    if (typeof v !== 'string' || v === '') fail(`${path}.${key}[${i}]`, 'must be a non-empty string');
    return v;
  });
}

function timeSeconds(o: Obj, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return Math.floor(Date.parse(v) / 1000);
  fail(`${path}.${key}`, 'must be unix seconds or an ISO-8601 time');
}

function tags(o: Obj, path: string): Record<string, string> | undefined {
  const v = o.tags;
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(`${path}.tags`, 'must be a map of strings');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') fail(`${path}.tags.${k}`, 'must be a string');
    out[k] = val;
  }
  return out;
}

const OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VAULT_NAME = /^[a-zA-Z][0-9a-zA-Z-]{1,22}[0-9a-zA-Z]$/;
const KNOWN_TOP_LEVEL = new Set(['tenantId', 'vaults', 'servicePrincipals', 'managedIdentities', 'imds', 'roleAssignments', 'issuers', 'throttling', 'trustedIssuerCaFiles', 'expiry', 'certificateCreation']);

function parseSecret(v: unknown, path: string): SeedSecret {
  if (!isObj(v)) fail(path, 'must be a map');
  const name = str(v, 'name', path);
  if (!OBJECT_NAME.test(name)) fail(`${path}.name`, 'must match ^[0-9a-zA-Z-]{1,127}$');
  const enabled = v.enabled;
  if (enabled !== undefined && typeof enabled !== 'boolean') fail(`${path}.enabled`, 'must be true or false');
  const secret: SeedSecret = { name, value: typeof v.value === 'string' ? v.value : str(v, 'value', path) };
  const contentType = optStr(v, 'contentType', path);
  if (contentType !== undefined) secret.contentType = contentType;
  if (typeof enabled === 'boolean') secret.enabled = enabled;
  const nbf = timeSeconds(v, 'notBefore', path);
  if (nbf !== undefined) secret.notBefore = nbf;
  const exp = timeSeconds(v, 'expires', path);
  if (exp !== undefined) secret.expires = exp;
  const t = tags(v, path);
  if (t !== undefined) secret.tags = t;
  return secret;
}

function parseCertificate(v: unknown, path: string, issuerNames: Set<string>): SeedCertificate {
  if (!isObj(v)) fail(path, 'must be a map');
  const name = str(v, 'name', path);
  if (!OBJECT_NAME.test(name)) fail(`${path}.name`, 'must match ^[0-9a-zA-Z-]{1,127}$');
  const issuer = str(v, 'issuer', path, 'Self');
  if (issuer !== 'Self' && !issuerNames.has(issuer)) fail(`${path}.issuer`, `unknown issuer "${issuer}" (use Self or one of: ${[...issuerNames].join(', ')})`);
  const keyType = str(v, 'keyType', path, 'RSA');
  if (keyType !== 'RSA' && keyType !== 'EC') fail(`${path}.keyType`, 'must be RSA or EC');
  const contentType = str(v, 'contentType', path, 'application/x-pkcs12');
  if (contentType !== 'application/x-pkcs12' && contentType !== 'application/x-pem-file') {
    fail(`${path}.contentType`, 'must be application/x-pkcs12 or application/x-pem-file');
  }
  const cert: SeedCertificate = {
    name,
    issuer,
    subject: str(v, 'subject', path, `CN=${name}`),
    dnsNames: strList(v, 'dnsNames', path),
    keyType,
    contentType,
    validityMonths: num(v, 'validityMonths', path, 12),
  };
  if (v.keySize !== undefined) cert.keySize = num(v, 'keySize', path, 2048);
  const curve = optStr(v, 'curve', path);
  if (curve !== undefined) cert.curve = curve;
  const file = optStr(v, 'file', path);
  if (file !== undefined) cert.file = file;
  const password = optStr(v, 'password', path);
  if (password !== undefined) cert.password = password;
  return cert;
}

function parseFederated(v: unknown, path: string): FederatedCredentialConfig {
  if (!isObj(v)) fail(path, 'must be a map');
  const fc: FederatedCredentialConfig = { issuer: str(v, 'issuer', path), subject: str(v, 'subject', path) };
  const aud = strList(v, 'audiences', path);
  if (aud.length > 0) fc.audiences = aud;
  return fc;
}

/**
 * Validates a parsed YAML document. `adminPrincipal` (generated by the caller) is added as a service
 * principal with Key Vault Administrator on every vault.
 */
export async function normalizeConfig(doc: unknown, adminPrincipal: { clientId: string; secret: string }): Promise<EmulatorConfig> {
  const root: Obj = doc === undefined || doc === null ? {} : isObj(doc) ? doc : fail('(root)', 'must be a map');
  for (const key of Object.keys(root)) if (!KNOWN_TOP_LEVEL.has(key)) fail(key, `unknown key (known: ${[...KNOWN_TOP_LEVEL].join(', ')})`);
  const tenantId = str(root, 'tenantId', '', DEFAULT_TENANT_ID);

  const throttling = isObj(root.throttling) ? root.throttling : {};
  const defaultLimit = num(throttling, 'requestsPer10s', 'throttling', AZURE_TRANSACTIONS_PER_10S);

  const issuers: TestCaIssuerConfig[] = list(root, 'issuers', '').map((v, i) => {
    const path = `issuers[${i}]`;
    if (!isObj(v)) fail(path, 'must be a map');
    const issuer: TestCaIssuerConfig = { name: str(v, 'name', path) };
    const certFile = optStr(v, 'certFile', path);
    const keyFile = optStr(v, 'keyFile', path);
    if ((certFile === undefined) !== (keyFile === undefined)) fail(path, 'certFile and keyFile go together');
    if (certFile !== undefined) issuer.certFile = certFile;
    if (keyFile !== undefined) issuer.keyFile = keyFile;
    return issuer;
  });
  if (!issuers.some((i) => i.name === DEFAULT_TEST_CA_ISSUER)) issuers.push({ name: DEFAULT_TEST_CA_ISSUER });
  const issuerNames = new Set(issuers.map((i) => i.name));

  const vaultDocs = root.vaults === undefined ? [{ name: DEFAULT_VAULT_NAME }] : list(root, 'vaults', '');
  const vaults: VaultConfig[] = vaultDocs.map((v, i) => {
    const path = `vaults[${i}]`;
    if (!isObj(v)) fail(path, 'must be a map');
    const name = str(v, 'name', path);
    if (!VAULT_NAME.test(name)) fail(`${path}.name`, 'must be 3-24 letters, digits and hyphens, starting with a letter');
    return {
      name: name.toLowerCase(),
      requestsPer10s: num(v, 'requestsPer10s', path, defaultLimit),
      secrets: list(v, 'secrets', path).map((s, j) => parseSecret(s, `${path}.secrets[${j}]`)),
      certificates: list(v, 'certificates', path).map((c, j) => parseCertificate(c, `${path}.certificates[${j}]`, issuerNames)),
    };
  });
  const vaultNames = new Set(vaults.map((v) => v.name));
  if (vaultNames.size !== vaults.length) fail('vaults', 'names must be unique');

  const servicePrincipals = list(root, 'servicePrincipals', '').map((v, i) => {
    const path = `servicePrincipals[${i}]`;
    if (!isObj(v)) fail(path, 'must be a map');
    const name = str(v, 'name', path);
    const clientId = str(v, 'clientId', path, derivedGuid('client', name));
    const sp: ServicePrincipalConfig & { objectId: string } = {
      name,
      clientId,
      objectId: str(v, 'objectId', path, derivedGuid('object', tenantId, clientId)),
      secrets: strList(v, 'secrets', path),
      federatedCredentials: list(v, 'federatedCredentials', path).map((f, j) => parseFederated(f, `${path}.federatedCredentials[${j}]`)),
    };
    return sp;
  });
  const admin = {
    name: 'kvsync-emulator-admin',
    clientId: adminPrincipal.clientId,
    objectId: derivedGuid('object', tenantId, adminPrincipal.clientId),
    secrets: [adminPrincipal.secret],
    federatedCredentials: [],
  };
  servicePrincipals.push(admin);

  const managedIdentityDocs = root.managedIdentities === undefined ? [{ name: 'node-identity' }] : list(root, 'managedIdentities', '');
  const managedIdentities = managedIdentityDocs.map((v, i) => {
    const path = `managedIdentities[${i}]`;
    if (!isObj(v)) fail(path, 'must be a map');
    const name = str(v, 'name', path);
    const clientId = str(v, 'clientId', path, derivedGuid('client', name));
    const mi: ManagedIdentityConfig & { objectId: string } = {
      name,
      clientId,
      objectId: str(v, 'objectId', path, derivedGuid('object', tenantId, clientId)),
      resourceId: str(v, 'resourceId', path, `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`),
    };
    return mi;
  });
  const names = [...servicePrincipals.map((p) => p.name), ...managedIdentities.map((m) => m.name)];
  if (new Set(names).size !== names.length) fail('servicePrincipals/managedIdentities', 'principal names must be unique');

  const imds = isObj(root.imds) ? root.imds : {};
  const imdsIdentities = root.imds === undefined ? managedIdentities.map((m) => m.name) : strList(imds, 'identities', 'imds');
  for (const [i, n] of imdsIdentities.entries()) {
    if (!managedIdentities.some((m) => m.name === n)) fail(`imds.identities[${i}]`, `unknown managed identity "${n}"`);
  }

  const resolvePrincipal = (ref: string, path: string): string => {
    const all = [...servicePrincipals, ...managedIdentities];
    const found = all.find((p) => p.name === ref || p.clientId === ref || p.objectId === ref);
    if (found === undefined) fail(path, `unknown principal "${ref}" (a name, client ID or object ID from servicePrincipals/managedIdentities)`);
    return found.objectId;
  };
  const assignmentDocs =
    root.roleAssignments === undefined
      ? managedIdentities.map((m) => ({ principal: m.name, role: 'Key Vault Secrets User', vault: '*' }))
          .concat(managedIdentities.map((m) => ({ principal: m.name, role: 'Key Vault Certificate User', vault: '*' })))
      : list(root, 'roleAssignments', '');
  const roleAssignments: RoleAssignmentConfig[] = assignmentDocs.map((v, i) => {
    const path = `roleAssignments[${i}]`;
    if (!isObj(v)) fail(path, 'must be a map');
    const role = str(v, 'role', path);
    if (!(ROLE_NAMES as readonly string[]).includes(role)) fail(`${path}.role`, `unknown role "${role}" (known: ${ROLE_NAMES.join(', ')})`);
    const vault = str(v, 'vault', path, '*').toLowerCase();
    if (vault !== '*' && !vaultNames.has(vault)) fail(`${path}.vault`, `unknown vault "${vault}"`);
    const ra: RoleAssignmentConfig = { principalObjectId: resolvePrincipal(str(v, 'principal', path), `${path}.principal`), role: role as RoleName, vault };
    const scope = optStr(v, 'scope', path);
    if (scope !== undefined) {
      if (!/^(secrets|certificates|keys)\/[0-9a-zA-Z-]{1,127}$/.test(scope)) fail(`${path}.scope`, 'must be secrets/<name>, certificates/<name> or keys/<name>');
      ra.scope = scope;
    }
    return ra;
  });
  roleAssignments.push({ principalObjectId: admin.objectId, role: 'Key Vault Administrator', vault: '*' });

  const trustedIssuerCaPems = await Promise.all(
    strList(root, 'trustedIssuerCaFiles', '').map(async (file, i) => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        fail(`trustedIssuerCaFiles[${i}]`, `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  const expiry = isObj(root.expiry) ? root.expiry : {};
  const creation = isObj(root.certificateCreation) ? root.certificateCreation : {};
  return {
    tenantId,
    vaults,
    servicePrincipals,
    managedIdentities,
    imdsIdentities,
    roleAssignments,
    issuers,
    trustedIssuerCaPems,
    expiryCheckSeconds: num(expiry, 'checkSeconds', 'expiry', 5),
    nearExpiryDays: num(expiry, 'nearExpiryDays', 'expiry', 30),
    certificatePendingSeconds: num(creation, 'pendingSeconds', 'certificateCreation', 0),
  };
}

/** Reads and validates a YAML config file (or the defaults when `file` is undefined). */
export async function loadEmulatorConfig(file: string | undefined, adminPrincipal: { clientId: string; secret: string }): Promise<EmulatorConfig> {
  if (file === undefined) return normalizeConfig(undefined, adminPrincipal);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new EmulatorConfigError(`cannot read config ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new EmulatorConfigError(`config ${file} is not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  return normalizeConfig(doc, adminPrincipal);
}

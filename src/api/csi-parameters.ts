/**
 * Reads the Azure Key Vault provider's SecretProviderClass `parameters` (all strings) the way the
 * provider does, so a SecretProviderClass becomes a KeyVaultSync by changing apiVersion and kind.
 * Nothing here merges with typed fields; `resolve.ts` does that.
 */
import { parse as parseYaml } from 'yaml';
import { isGuid, isTenantId } from './azure-ids.ts';
import { parseCloudName } from './cloud.ts';
import type { CloudName } from './cloud.ts';
import type { SpecIssue } from './errors.ts';
import { LIMITS, VaultObjectSchema } from './keyvaultsync-schema.ts';
import type { VaultObject } from './keyvaultsync-schema.ts';
import { schemaIssues } from './validate.ts';

/** Identity mode a SecretProviderClass selects. */
export type CsiIdentity =
  | { mode: 'podIdentity' }
  | { mode: 'managedIdentity'; clientID: string | undefined }
  | { mode: 'workloadIdentity'; clientID: string };

/** One entry of the `objects` array, in kvsync terms, with the CSI fields that were set. */
export interface CsiObject {
  object: VaultObject;
  /** kvsync field names that the CSI entry set explicitly (others are unset). */
  explicit: ReadonlySet<keyof VaultObject>;
  /** Field path prefix for messages, e.g. `spec.parameters.objects: array[2]`. */
  path: string;
}

export interface CsiParameters {
  keyvaultName: string | undefined;
  tenantID: string | undefined;
  /** Undefined when cloudName is absent; `unknownCloudName` holds a name kvsync does not know. */
  cloudName: CloudName | undefined;
  unknownCloudName: string | undefined;
  identity: CsiIdentity | undefined;
  /**
   * Set when the parameters are a SecretProviderClass's (not empty) but select no identity: the CSI
   * driver then used the service principal Secret of the pod's `nodePublishSecretRef`, which a
   * KeyVaultSync cannot see. Holds hints on parameters that look like an identity choice but are not.
   */
  nodePublishSecretRef: { hints: string[] } | undefined;
  /** Undefined when `objects` is absent. */
  objects: CsiObject[] | undefined;
}

export interface CsiParseOutcome {
  parameters: CsiParameters;
  issues: SpecIssue[];
  warnings: string[];
}

const P = 'spec.parameters';

/** Parameters that kvsync reads. */
const KNOWN = new Set(['keyvaultName', 'tenantID', 'tenantId', 'cloudName', 'usePodIdentity', 'useVMManagedIdentity', 'userAssignedIdentityID', 'clientID', 'objects', 'useAzureTokenProxy']);

/**
 * Parameters that look like an identity choice but select none: the provider ignores the first two
 * (they are not its parameters) and reads the third only to fetch the client ID for a pod's
 * ServiceAccount, which kvsync has no pod for.
 */
const IDENTITY_LOOKALIKES: Readonly<Record<string, string>> = {
  useWorkloadIdentity: 'useWorkloadIdentity is not a provider parameter (the provider selects workload identity by clientID)',
  useManagedIdentity: 'useManagedIdentity is not a provider parameter (the provider selects a managed identity by useVMManagedIdentity)',
  usePodServiceAccountAnnotation: 'usePodServiceAccountAnnotation read the client ID from the pod\'s ServiceAccount: name that ServiceAccount in spec.identity.workloadIdentity.serviceAccountName (kvsync reads its azure.workload.identity/client-id annotation)',
};
/** Parameters that the provider knows but that mean nothing to kvsync (accepted, ignored). */
const IGNORED = new Set(['resourceGroup', 'subscriptionId', 'cloudEnvFileName', 'podIdentityNamespace', 'podIdentityName']);

/** CSI field → kvsync field. */
const FIELD_MAP = {
  objectName: 'name',
  objectType: 'type',
  objectAlias: 'alias',
  objectVersion: 'version',
  objectVersionHistory: 'versionHistory',
  objectEncoding: 'encoding',
  objectFormat: 'format',
  filePermission: 'filePermission',
} as const satisfies Record<string, keyof VaultObject>;
type CsiField = keyof typeof FIELD_MAP;

/** Whether `name` is a parameter the Azure provider reads (for hints on one put in the wrong place). */
export function isProviderParameter(name: string): boolean {
  return KNOWN.has(name) || IGNORED.has(name);
}

/** Go's strconv.ParseBool, which the provider uses; "" is false. */
export function parseCsiBool(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/** A client ID parameter: a GUID, else an issue that names the parameter but not its value. */
function guid(params: Readonly<Record<string, string>>, name: 'clientID' | 'userAssignedIdentityID', issues: SpecIssue[]): string | undefined {
  const v = nonEmpty(params[name]);
  if (v === undefined || isGuid(v)) return v;
  issues.push({ path: `${P}.${name}`, message: 'must be a GUID (an Entra client ID)' });
  return undefined;
}

/** A tenant parameter: a GUID or a domain name, else an issue that names the parameter but not its value. */
function tenant(params: Readonly<Record<string, string>>, name: 'tenantID' | 'tenantId', issues: SpecIssue[]): string | undefined {
  const v = nonEmpty(params[name]);
  if (v === undefined || isTenantId(v)) return v;
  issues.push({ path: `${P}.${name}`, message: 'must be an Entra tenant ID (a GUID or a domain name)' });
  return undefined;
}

/** Parses `parameters`; problems come back as issues (paths under spec.parameters), never thrown. */
export function parseCsiParameters(params: Readonly<Record<string, string>>): CsiParseOutcome {
  const issues: SpecIssue[] = [];
  const warnings: string[] = [];
  for (const key of Object.keys(params)) {
    if (KNOWN.has(key)) continue;
    if (IGNORED.has(key) || key.startsWith('csi.storage.k8s.io/')) warnings.push(`${P}.${key} is ignored by kvsync`);
    else warnings.push(`${P}.${key} is not an Azure provider parameter kvsync knows; ignored`);
  }

  const tenantID = tenant(params, 'tenantID', issues);
  const tenantIdLegacy = tenant(params, 'tenantId', issues);
  if (tenantID !== undefined && tenantIdLegacy !== undefined && tenantID.toLowerCase() !== tenantIdLegacy.toLowerCase()) {
    issues.push({ path: `${P}.tenantId`, message: `conflicts with ${P}.tenantID ("${tenantIdLegacy}" ≠ "${tenantID}")` });
  }

  let cloudName: CloudName | undefined;
  let unknownCloudName: string | undefined;
  if (params.cloudName !== undefined) {
    cloudName = parseCloudName(params.cloudName);
    if (cloudName === undefined) unknownCloudName = params.cloudName;
  }

  const identity = parseIdentity(params, issues);
  const tokenProxy = checkTokenProxy(params, issues);
  return {
    parameters: {
      keyvaultName: nonEmpty(params.keyvaultName),
      tenantID: tenantID ?? tenantIdLegacy,
      cloudName,
      unknownCloudName,
      identity,
      nodePublishSecretRef: identity === undefined && Object.keys(params).length > 0 && !tokenProxy ? { hints: identityHints(params) } : undefined,
      objects: params.objects === undefined ? undefined : parseObjects(params.objects, issues),
    },
    issues,
    warnings,
  };
}

function parseIdentity(params: Readonly<Record<string, string>>, issues: SpecIssue[]): CsiIdentity | undefined {
  const pod = parseCsiBool(params.usePodIdentity);
  const vm = parseCsiBool(params.useVMManagedIdentity);
  if (pod === undefined) issues.push({ path: `${P}.usePodIdentity`, message: `must be a boolean ("true" or "false")` });
  if (vm === undefined) issues.push({ path: `${P}.useVMManagedIdentity`, message: `must be a boolean ("true" or "false")` });
  if (pod === true && vm === true) {
    issues.push({ path: `${P}.useVMManagedIdentity`, message: 'usePodIdentity and useVMManagedIdentity cannot both be true' });
    return undefined;
  }
  if (pod === true) return { mode: 'podIdentity' };
  if (vm === true) return { mode: 'managedIdentity', clientID: guid(params, 'userAssignedIdentityID', issues) };
  const clientID = guid(params, 'clientID', issues);
  return clientID === undefined ? undefined : { mode: 'workloadIdentity', clientID };
}

/**
 * `useAzureTokenProxy: "true"` (AKS identity binding): the provider fetched the token through the
 * node's token proxy, for an identity shared by many clusters without a federated credential per
 * ServiceAccount. kvsync exchanges a ServiceAccount token at Entra ID itself, so the same spec would
 * mean a different trust path: refused, with what to set up instead. Returns whether it was set.
 */
function checkTokenProxy(params: Readonly<Record<string, string>>, issues: SpecIssue[]): boolean {
  const on = parseCsiBool(params.useAzureTokenProxy);
  if (on === undefined) issues.push({ path: `${P}.useAzureTokenProxy`, message: 'must be a boolean ("true" or "false")' });
  if (on !== true) return on === undefined;
  issues.push({
    path: `${P}.useAzureTokenProxy`,
    message:
      'AKS identity binding (the node token proxy) is not supported: kvsync exchanges a ServiceAccount token at Entra ID itself. Remove useAzureTokenProxy, add to the managed identity of clientID a federated credential for the cluster\'s OIDC issuer and subject system:serviceaccount:<namespace>:<serviceaccount>, and name that ServiceAccount in spec.identity.workloadIdentity.serviceAccountName',
  });
  return true;
}

/** What in the parameters suggests an identity was meant, for the nodePublishSecretRef message. */
function identityHints(params: Readonly<Record<string, string>>): string[] {
  const hints: string[] = [];
  if (nonEmpty(params.userAssignedIdentityID) !== undefined) hints.push('userAssignedIdentityID is set, but the provider reads it only with useVMManagedIdentity: "true"');
  for (const [key, hint] of Object.entries(IDENTITY_LOOKALIKES)) if (params[key] !== undefined) hints.push(hint);
  return hints;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The `objects` string: YAML with `array:`, each item itself a YAML document (a string) or a mapping.
 * Parsed with the failsafe schema so every scalar stays a string, as the provider's Go structs see
 * them (`filePermission: 0644` stays "0644").
 */
function parseObjects(text: string, issues: SpecIssue[]): CsiObject[] {
  const path = `${P}.objects`;
  let doc: unknown;
  try {
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch (err) {
    issues.push({ path, message: `is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` });
    return [];
  }
  if (doc === null || doc === undefined || doc === '') return [];
  if (!isRecord(doc) || !Array.isArray(doc.array)) {
    issues.push({ path, message: 'must be YAML of the form "array: [ <object YAML>, ... ]"' });
    return [];
  }
  // Refused before any entry is parsed: the count is what a hostile spec would use to cost us.
  if (doc.array.length > LIMITS.objects) {
    issues.push({ path, message: `lists ${doc.array.length} objects; a KeyVaultSync may have at most ${LIMITS.objects}` });
    return [];
  }
  const out: CsiObject[] = [];
  doc.array.forEach((item: unknown, i: number) => {
    const itemPath = `${path}: array[${i}]`;
    let entry: unknown = item;
    if (typeof item === 'string') {
      try {
        entry = parseYaml(item, { schema: 'failsafe' });
      } catch (err) {
        issues.push({ path: itemPath, message: `is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` });
        return;
      }
    }
    if (!isRecord(entry)) {
      issues.push({ path: itemPath, message: 'must be a mapping with objectName and objectType' });
      return;
    }
    const parsed = toVaultObject(entry, itemPath, issues);
    if (parsed !== undefined) out.push(parsed);
  });
  return out;
}

function toVaultObject(entry: Record<string, unknown>, path: string, issues: SpecIssue[]): CsiObject | undefined {
  const raw: Record<string, unknown> = {};
  const explicit = new Set<keyof VaultObject>();
  const before = issues.length;
  for (const [csiField, value] of Object.entries(entry)) {
    const field = FIELD_MAP[csiField as CsiField] as keyof VaultObject | undefined;
    if (field === undefined) {
      issues.push({ path: `${path}.${csiField}`, message: 'unknown field' });
      continue;
    }
    if (typeof value !== 'string') {
      issues.push({ path: `${path}.${csiField}`, message: 'must be a string' });
      continue;
    }
    // The provider treats empty strings as "not set".
    if (value === '') continue;
    if (field === 'type') raw.type = value.toLowerCase();
    else if (field === 'encoding') raw.encoding = value.toLowerCase();
    else if (field === 'format') raw.format = value.toLowerCase();
    else if (field === 'versionHistory') raw.versionHistory = /^\d+$/.test(value) ? Number(value) : value;
    else raw[field] = value;
    explicit.add(field);
  }
  if (raw.name === undefined) issues.push({ path: `${path}.objectName`, message: 'is required' });
  if (raw.type === undefined) issues.push({ path: `${path}.objectType`, message: 'is required' });
  else if (!['secret', 'key', 'cert'].includes(raw.type as string)) issues.push({ path: `${path}.objectType`, message: 'must be one of: secret, key, cert' });
  if (issues.length > before) return undefined;

  const reverse = Object.fromEntries(Object.entries(FIELD_MAP).map(([csi, kv]) => [kv, csi]));
  const structural = schemaIssues(VaultObjectSchema, raw, '').map((i) => {
    const field = i.path.replace(/^\./, '').split(/[.[]/)[0] ?? '';
    // Key Vault itself refuses other names, so no vault holds such an object: say what a name may be.
    const message = field === 'name' && i.message.startsWith('expected string to match') ? 'must be a Key Vault object name: 1-127 letters, digits and hyphens' : i.message;
    return { path: `${path}.${reverse[field] ?? field}`, message };
  });
  if (structural.length > 0) {
    issues.push(...structural);
    return undefined;
  }
  return { object: raw as VaultObject, explicit, path };
}

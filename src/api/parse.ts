/**
 * parseKeyVaultSync / parseKeyVaultIdentity: from an untrusted object (a watch event, a file for
 * `kvsync render`) to the resolved spec, or an InvalidSpecError listing every problem with its path.
 *
 * Order: envelope (apiVersion/kind) → schema defaults and structural validation (what the apiserver
 * does) → the CEL-mirroring rules of `rules.ts` → CSI parameters parsed and merged with the typed
 * fields (typed fields win where the other side is unset; different values are a conflict) → the
 * reference checks again on the merged object list → output keys resolved.
 */
import { cloudNameProblem } from './cloud.ts';
import { API_VERSION } from './crd.ts';
import { isProviderParameter, parseCsiParameters } from './csi-parameters.ts';
import type { CsiObject, CsiParameters } from './csi-parameters.ts';
import { parseGoDuration } from './duration.ts';
import { InvalidSpecError } from './errors.ts';
import { annotationIssues, labelIssues } from './kube-names.ts';
import type { SpecIssue } from './errors.ts';
import { KeyVaultIdentitySpecSchema } from './keyvaultidentity-schema.ts';
import type { KeyVaultIdentitySpec } from './keyvaultidentity-schema.ts';
import { KeyVaultSyncSpecSchema, LIMITS } from './keyvaultsync-schema.ts';
import type { CreationPolicy, DeletionPolicy, KeyVaultSyncSpec, SecretObject, VaultObject } from './keyvaultsync-schema.ts';
import type {
  OutputPart,
  ResolvedConfigMapOutput,
  ResolvedDataEntry,
  ResolvedIdentity,
  ResolvedKeyVaultSync,
  ResolvedObject,
  ResolvedSecretOutput,
  ResolvedVault,
} from './resolved.ts';
import { checkConfigMapRefs, checkOutputNamesUnique, checkSecretRefs, checkTlsSources, KEY_VAULT_IDENTITY_RULES, KEY_VAULT_SYNC_RULES, outputNameOf, separateFileRef } from './rules.ts';
import { REQUIRED_SECRET_KEYS } from './secret-types.ts';
import type { ObjectRef } from './rules.ts';
import { parseTemplate } from './template.ts';
import { schemaIssues, withDefaults } from './validate.ts';
import { AZURE_VAULT_HOSTS_ONLY, canonicalVault } from './vault-url.ts';
import type { VaultHostPolicy } from './vault-url.ts';

export type ParseResult<T> = { ok: true; value: T; warnings: string[] } | { ok: false; error: InvalidSpecError; warnings: string[] };

/** Default file mode of mounted objects (CSI default). */
const DEFAULT_FILE_PERMISSION = 0o644;
/** ServiceAccount used when no identity is given (like a pod without serviceAccountName). */
const DEFAULT_SERVICE_ACCOUNT = 'default';

interface Envelope {
  metadata: { name?: string; namespace?: string; generation?: number };
  spec: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readEnvelope(obj: unknown, kind: string, issues: SpecIssue[]): Envelope | undefined {
  if (!isRecord(obj)) {
    issues.push({ path: '', message: `must be a ${kind} object` });
    return undefined;
  }
  if (obj.apiVersion !== API_VERSION) issues.push({ path: 'apiVersion', message: `must be ${API_VERSION}` });
  if (obj.kind !== kind) issues.push({ path: 'kind', message: `must be ${kind}` });
  if (!isRecord(obj.spec)) issues.push({ path: 'spec', message: 'is required and must be an object' });
  const m = isRecord(obj.metadata) ? obj.metadata : {};
  return {
    metadata: {
      name: typeof m.name === 'string' ? m.name : undefined,
      namespace: typeof m.namespace === 'string' ? m.namespace : undefined,
      generation: typeof m.generation === 'number' ? m.generation : undefined,
    },
    spec: obj.spec,
  };
}

/** `spec.tenantId: unknown field`: a provider parameter one level too high says where it belongs. */
function misplacedParameterHint(issue: SpecIssue): SpecIssue {
  const field = /^spec\.([A-Za-z]+)$/.exec(issue.path)?.[1];
  if (field === undefined || issue.message !== 'unknown field' || !isProviderParameter(field)) return issue;
  return { path: issue.path, message: `unknown field; ${field} is an Azure provider parameter: move it under spec.parameters` };
}

function fail<T>(issues: SpecIssue[], warnings: string[]): ParseResult<T> {
  return { ok: false, error: new InvalidSpecError(issues), warnings };
}

/**
 * Parses and resolves a KeyVaultSync. Never throws for bad input: every problem is returned as an
 * InvalidSpecError (reason InvalidSpec) whose issues name the field path. `vaults` is the operator's
 * vault host policy: the vault is resolved to its canonical URL by it (vault-url.ts), and a host it
 * does not allow is an InvalidSpec.
 */
export function parseKeyVaultSync(obj: unknown, vaults: VaultHostPolicy = AZURE_VAULT_HOSTS_ONLY): ParseResult<ResolvedKeyVaultSync> {
  const issues: SpecIssue[] = [];
  const env = readEnvelope(obj, 'KeyVaultSync', issues);
  if (env === undefined || issues.length > 0) return fail(issues, []);

  const spec = withDefaults(KeyVaultSyncSpecSchema, env.spec as KeyVaultSyncSpec);
  issues.push(...schemaIssues(KeyVaultSyncSpecSchema, spec, 'spec').map(misplacedParameterHint));
  if (issues.length > 0) return fail(issues, []);

  for (const rule of KEY_VAULT_SYNC_RULES) issues.push(...rule.check(spec));
  if (issues.length > 0) return fail(issues, []);

  const csi = parseCsiParameters(spec.parameters ?? {});
  const warnings = csi.warnings;
  issues.push(...csi.issues);
  if (issues.length > 0) return fail(issues, warnings);

  const vault = resolveVault(spec, csi.parameters, vaults, issues);
  const identity = resolveIdentity(spec, csi.parameters, issues);
  const objects = mergeObjects(spec.objects ?? [], csi.parameters.objects ?? [], issues);
  issues.push(...checkObjectBudget(objects));
  if (issues.length > 0 || vault === undefined || identity === undefined) return fail(issues, warnings);

  // The reference rules again, now on the merged list (CEL could only see the typed objects).
  const refs = new Map<string, ObjectRef>(objects.map((o) => [o.outputName, { type: o.type, fromParameters: o.source === 'parameters' }]));
  issues.push(...checkSecretRefs(spec.secretObjects, refs, true), ...checkTlsSources(spec.secretObjects, refs, true), ...checkConfigMapRefs(spec.configMapObjects, refs));
  if (issues.length > 0) return fail(issues, warnings);

  const byOutput = new Map(objects.map((o) => [o.outputName, o]));
  const deletionPolicy = spec.deletionPolicy ?? 'Delete';
  const secrets = (spec.secretObjects ?? []).map((s, i) => retained(resolveSecret(s, i, byOutput, refs, issues), deletionPolicy));
  const configMaps = (spec.configMapObjects ?? []).map((c, i) => retained(resolveConfigMap(c, i, byOutput, issues), deletionPolicy));
  const refreshIntervalMs = parseGoDuration(spec.refreshInterval ?? '1h');
  if (refreshIntervalMs === undefined) issues.push({ path: 'spec.refreshInterval', message: 'is not a Go duration' });
  if (issues.length > 0 || refreshIntervalMs === undefined) return fail(issues, warnings);

  return {
    ok: true,
    warnings,
    value: {
      name: env.metadata.name,
      namespace: env.metadata.namespace,
      generation: env.metadata.generation,
      vault,
      identity,
      objects,
      secrets,
      configMaps,
      deletionPolicy,
      refreshIntervalMs,
      restartTargets: spec.restartTargets ?? [],
      ...(readsSeparateFiles(spec.secretObjects, refs) ? { separateCertKeyFiles: true } : {}),
    },
  };
}

/** Whether a secretObjects entry reads a `<name>.crt` / `<name>.key` file of a certificate object. */
function readsSeparateFiles(secretObjects: KeyVaultSyncSpec['secretObjects'], refs: ReadonlyMap<string, ObjectRef>): boolean {
  return (secretObjects ?? []).some((s) => (s.data ?? []).some((d) => separateFileRef(d.objectName, refs) !== undefined));
}

/**
 * deletionPolicy Retain: an output kvsync creates is written as under creationPolicy Orphan (its
 * owner-uid annotation instead of an owner reference), so the garbage collector leaves it when the
 * KeyVaultSync goes, and a switch back to Delete gives it the owner reference again (server-side apply).
 */
function retained<T extends { creationPolicy: CreationPolicy }>(out: T, policy: DeletionPolicy): T {
  return policy === 'Retain' && out.creationPolicy === 'Owner' ? { ...out, creationPolicy: 'Orphan' } : out;
}

function conflict(path: string, other: string, a: string, b: string): SpecIssue {
  return { path, message: `conflicts with ${other} ("${a}" ≠ "${b}")` };
}

function resolveVault(spec: KeyVaultSyncSpec, csi: CsiParameters, policy: VaultHostPolicy, issues: SpecIssue[]): ResolvedVault | undefined {
  const v = spec.vault ?? {};
  const before = issues.length;
  if (v.name !== undefined && csi.keyvaultName !== undefined && v.name.toLowerCase() !== csi.keyvaultName.toLowerCase()) {
    issues.push(conflict('spec.parameters.keyvaultName', 'spec.vault.name', csi.keyvaultName, v.name));
  }
  if (v.tenantID !== undefined && csi.tenantID !== undefined && v.tenantID.toLowerCase() !== csi.tenantID.toLowerCase()) {
    issues.push(conflict('spec.parameters.tenantID', 'spec.vault.tenantID', csi.tenantID, v.tenantID));
  }
  if (v.cloudName !== undefined && csi.cloudName !== undefined && v.cloudName !== csi.cloudName) {
    issues.push(conflict('spec.parameters.cloudName', 'spec.vault.cloudName', csi.cloudName, v.cloudName));
  }
  if (csi.unknownCloudName !== undefined && v.url === undefined) {
    issues.push({ path: 'spec.parameters.cloudName', message: cloudNameProblem(csi.unknownCloudName) });
  }
  if (issues.length > before) return undefined;
  const name = v.name ?? csi.keyvaultName;
  const vault = canonicalVault({ name, url: v.url, cloudName: v.cloudName ?? csi.cloudName }, policy);
  if (!vault.ok) {
    const path =
      vault.field === 'url'
        ? 'spec.vault.url'
        : vault.field === 'name'
          ? v.name !== undefined ? 'spec.vault.name' : 'spec.parameters.keyvaultName'
          : v.cloudName !== undefined ? 'spec.vault.cloudName' : 'spec.parameters.cloudName';
    issues.push({ path, message: vault.message });
    return undefined;
  }
  return { url: vault.url, name, tenantID: v.tenantID ?? csi.tenantID, cloudName: vault.cloudName };
}

function resolveIdentity(spec: KeyVaultSyncSpec, csi: CsiParameters, issues: SpecIssue[]): ResolvedIdentity | undefined {
  const typed = spec.identity;
  const fromCsi = csi.identity;
  const typedMode =
    typed === undefined
      ? undefined
      : typed.workloadIdentity !== undefined
        ? 'workloadIdentity'
        : typed.podIdentity !== undefined
          ? 'podIdentity'
          : typed.managedIdentity !== undefined
            ? 'managedIdentity'
            : 'servicePrincipal';
  if (typedMode !== undefined && fromCsi !== undefined && typedMode !== fromCsi.mode) {
    issues.push({ path: 'spec.identity', message: `${typedMode} conflicts with spec.parameters, which select ${fromCsi.mode}` });
    return undefined;
  }
  const csiClientID = fromCsi !== undefined && fromCsi.mode !== 'podIdentity' ? fromCsi.clientID : undefined;

  if (typed?.workloadIdentity !== undefined) {
    const w = typed.workloadIdentity;
    if (w.clientID !== undefined && csiClientID !== undefined && w.clientID.toLowerCase() !== csiClientID.toLowerCase()) {
      issues.push(conflict('spec.parameters.clientID', 'spec.identity.workloadIdentity.clientID', csiClientID, w.clientID));
      return undefined;
    }
    return { mode: 'workloadIdentity', serviceAccountName: w.serviceAccountName, clientID: w.clientID ?? csiClientID };
  }
  if (typed?.podIdentity !== undefined) return { mode: 'podIdentity', identityRef: typed.podIdentity.identityRef, clientID: undefined };
  if (typed?.managedIdentity !== undefined) return { mode: 'managedIdentity', identityRef: typed.managedIdentity.identityRef, clientID: csiClientID };
  if (typed?.servicePrincipal !== undefined) {
    const r = typed.servicePrincipal.secretRef;
    return { mode: 'servicePrincipal', secretName: r.name, clientIDKey: r.clientIDKey ?? 'clientid', clientSecretKey: r.clientSecretKey ?? 'clientsecret' };
  }
  if (fromCsi === undefined && csi.nodePublishSecretRef !== undefined) {
    issues.push({ path: 'spec.identity', message: nodePublishSecretRefMessage(csi.nodePublishSecretRef.hints) });
    return undefined;
  }
  if (fromCsi === undefined) return { mode: 'workloadIdentity', serviceAccountName: DEFAULT_SERVICE_ACCOUNT, clientID: undefined };
  if (fromCsi.mode === 'workloadIdentity') return { mode: 'workloadIdentity', serviceAccountName: DEFAULT_SERVICE_ACCOUNT, clientID: fromCsi.clientID };
  return { mode: fromCsi.mode, identityRef: undefined, clientID: csiClientID };
}

/**
 * A SecretProviderClass that selects no identity authenticated with the service principal Secret
 * named by the pod's nodePublishSecretRef. Falling back to workload identity with the `default`
 * ServiceAccount would change whose identity reads the vault without a word, so it is refused with
 * what to write instead.
 */
function nodePublishSecretRefMessage(hints: readonly string[]): string {
  const base =
    'is required: the CSI parameters select no identity (no clientID, usePodIdentity or useVMManagedIdentity), so the CSI driver used the service principal Secret that the pod named in nodePublishSecretRef, which a KeyVaultSync cannot see; set spec.identity.servicePrincipal.secretRef.name to that Secret (its keys clientid and clientsecret are read as before), or choose another identity in spec.identity';
  return hints.length === 0 ? base : `${base} (${hints.join('; ')})`;
}

/**
 * The same bounds for every input form (typed objects, CSI `parameters.objects`, both merged): at most
 * LIMITS.objects objects and LIMITS.objectReads object versions read per sync.
 */
function checkObjectBudget(objects: readonly ResolvedObject[]): SpecIssue[] {
  const issues: SpecIssue[] = [];
  if (objects.length > LIMITS.objects) {
    issues.push({ path: 'spec.objects', message: `has ${objects.length} objects with spec.parameters.objects; a KeyVaultSync may have at most ${LIMITS.objects}` });
  }
  const reads = objects.reduce((n, o) => n + o.versionHistory, 0);
  if (reads > LIMITS.objectReads) {
    issues.push({ path: 'spec.objects', message: `would read ${reads} object versions per sync (objects × versionHistory); a KeyVaultSync may read at most ${LIMITS.objectReads}` });
  }
  return issues;
}

function toResolved(o: VaultObject, source: ResolvedObject['source']): ResolvedObject {
  return {
    name: o.name,
    type: o.type ?? 'secret',
    outputName: outputNameOf(o),
    version: o.version === undefined || o.version === '' ? undefined : o.version,
    versionHistory: Math.max(1, o.versionHistory ?? 1),
    encoding: o.encoding ?? 'utf-8',
    format: o.format ?? 'pem',
    optional: o.optional ?? false,
    filePermission: o.filePermission === undefined ? DEFAULT_FILE_PERMISSION : parseInt(o.filePermission, 8),
    split: o.split,
    source,
  };
}

/**
 * Typed objects plus the CSI ones. An object declared on both sides (same output name) is merged:
 * a CSI field fills a typed field that is unset; a CSI field that differs from a set typed field is a
 * conflict.
 */
function mergeObjects(typed: readonly VaultObject[], csi: readonly CsiObject[], issues: SpecIssue[]): ResolvedObject[] {
  issues.push(...checkOutputNamesUnique(csi.map((c) => outputNameOf(c.object)), (i) => csi[i]?.path ?? 'spec.parameters.objects'));
  const merged = typed.map((o) => ({ ...o }));
  const typedIndex = new Map(merged.map((o, i) => [outputNameOf(o), i]));
  const fromCsi: VaultObject[] = [];
  for (const c of csi) {
    const i = typedIndex.get(outputNameOf(c.object));
    const target = i === undefined ? undefined : merged[i];
    if (target === undefined) {
      fromCsi.push(c.object);
      continue;
    }
    for (const field of c.explicit) {
      const mine = target[field];
      const theirs = c.object[field];
      // An empty typed version means "current", the same as unset.
      if (mine === undefined || (field === 'version' && mine === '')) (target as Record<string, unknown>)[field] = theirs;
      else if (String(mine) !== String(theirs)) issues.push(conflict(`${c.path}`, `spec.objects[${i}].${field}`, String(theirs), String(mine)));
    }
  }
  return [...merged.map((o) => toResolved(o, 'objects')), ...fromCsi.map((o) => toResolved(o, 'parameters'))];
}

const TLS_PARTS: ReadonlySet<string> = new Set(['tls.crt', 'tls.key', 'ca.crt']);

function resolveSecret(s: SecretObject, index: number, objects: ReadonlyMap<string, ResolvedObject>, refs: ReadonlyMap<string, ObjectRef>, issues: SpecIssue[]): ResolvedSecretOutput {
  const path = `spec.secretObjects[${index}]`;
  const type = s.type ?? 'Opaque';
  const isTls = type === 'kubernetes.io/tls';
  const tls = isTls ? { includeRoot: s.includeRoot ?? false, caCert: s.caCert ?? false, keyFormat: s.keyFormat ?? 'pkcs8' } : undefined;
  const entries: ResolvedDataEntry[] = [];
  const data = s.data ?? [];
  data.forEach((d, j) => {
    const o = objects.get(d.objectName);
    if (o === undefined) {
      // `<name>.crt` / `<name>.key`: the CSI provider's separate certificate and key files.
      const file = separateFileRef(d.objectName, refs);
      if (file !== undefined) entries.push({ kind: 'key', key: d.key ?? d.objectName, object: file.object, part: file.part });
      return; // anything else is reported by checkSecretRefs
    }
    if (o.split !== undefined) {
      if (d.key !== undefined) issues.push({ path: `${path}.data[${j}].key`, message: `must not be set: the keys of "${o.outputName}" (split: ${o.split}) come from its document` });
      else entries.push({ kind: 'split', object: o.outputName });
      return;
    }
    // A certificate, or a CSI secret that is a certificate's backing secret, can feed the tls parts.
    const certWithKey = o.type === 'certificate' || (o.source === 'parameters' && o.type === 'secret');
    if (isTls && certWithKey) {
      if (d.key === undefined) {
        entries.push({ kind: 'key', key: 'tls.crt', object: o.outputName, part: 'tls.crt' }, { kind: 'key', key: 'tls.key', object: o.outputName, part: 'tls.key' });
      } else {
        entries.push({ kind: 'key', key: d.key, object: o.outputName, part: TLS_PARTS.has(d.key) ? (d.key as OutputPart) : 'content' });
      }
      return;
    }
    const key = d.key ?? (type === 'kubernetes.io/dockerconfigjson' && data.length === 1 && s.templates === undefined ? '.dockerconfigjson' : o.outputName);
    entries.push({ kind: 'key', key, object: o.outputName, part: 'content' });
  });

  entries.push(...resolveTemplates(s, path, objects, issues));
  const keys = entries.flatMap((e) => (e.kind === 'split' ? [] : [e.key]));
  if (tls?.caCert === true && !keys.includes('ca.crt')) {
    const crt = entries.find((e) => e.kind === 'key' && e.part === 'tls.crt');
    if (crt?.kind === 'key') {
      entries.push({ kind: 'key', key: 'ca.crt', object: crt.object, part: 'ca.crt' });
      keys.push('ca.crt');
    }
  }
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) issues.push({ path: `${path}.data`, message: `key "${dup}" is produced twice` });
  if (isTls && !(keys.includes('tls.crt') && keys.includes('tls.key'))) issues.push({ path: `${path}.data`, message: 'a kubernetes.io/tls secret needs tls.crt and tls.key' });
  const required = REQUIRED_SECRET_KEYS[type];
  if (required !== undefined && !keys.includes(required)) issues.push({ path: `${path}.data`, message: `a ${type} secret needs the key ${required}` });
  if (type === 'kubernetes.io/basic-auth' && !(keys.includes('username') || keys.includes('password'))) {
    issues.push({ path: `${path}.data`, message: 'a kubernetes.io/basic-auth secret needs the key username or password' });
  }
  // What the apiserver would refuse on this Secret is refused here, before any Secret is written.
  issues.push(...labelIssues(s.labels ?? {}, `${path}.labels`), ...annotationIssues(s.annotations ?? {}, `${path}.annotations`));
  const selectors = s.select?.map((sel) => ({ type: sel.type ?? 'secret', namePattern: sel.namePattern, tags: sel.tags ?? {}, keyPrefix: sel.keyPrefix ?? '' }));
  return { name: s.secretName, type, labels: s.labels ?? {}, annotations: s.annotations ?? {}, creationPolicy: s.creationPolicy ?? 'Owner', tls, entries, ...(selectors === undefined ? {} : { selectors }) };
}

/**
 * The templates of a Secret, parsed; each may name only objects of this KeyVaultSync (its own object
 * list is the whole namespace a template sees).
 */
function resolveTemplates(s: SecretObject, path: string, objects: ReadonlyMap<string, ResolvedObject>, issues: SpecIssue[]): ResolvedDataEntry[] {
  const entries: ResolvedDataEntry[] = [];
  (s.templates ?? []).forEach((t, j) => {
    const at = `${path}.templates[${j}].template`;
    const parsed = parseTemplate(t.template);
    if (!parsed.ok) {
      issues.push({ path: at, message: parsed.message });
      return;
    }
    const unknown = parsed.template.objects.filter((name) => !objects.has(name));
    if (unknown.length > 0) {
      issues.push({ path: at, message: `names ${unknown.map((n) => `"${n}"`).join(', ')}, which ${unknown.length === 1 ? 'is not the output name of an object' : 'are not output names of objects'} of this KeyVaultSync` });
      return;
    }
    entries.push({ kind: 'template', key: t.key, template: parsed.template });
  });
  return entries;
}

function resolveConfigMap(
  c: NonNullable<KeyVaultSyncSpec['configMapObjects']>[number],
  index: number,
  objects: ReadonlyMap<string, ResolvedObject>,
  issues: SpecIssue[],
): ResolvedConfigMapOutput {
  const entries: ResolvedConfigMapOutput['entries'] = [];
  for (const d of c.data) {
    const o = objects.get(d.objectName);
    if (o === undefined) continue; // reported by checkConfigMapRefs
    const key = d.key ?? o.outputName;
    const part = o.type === 'certificate' ? (key === 'ca.crt' ? 'ca.crt' : 'tls.crt') : 'content';
    entries.push({ key, object: o.outputName, part });
  }
  const keys = entries.map((e) => e.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) issues.push({ path: `spec.configMapObjects[${index}].data`, message: `key "${dup}" is produced twice` });
  issues.push(...labelIssues(c.labels ?? {}, `spec.configMapObjects[${index}].labels`), ...annotationIssues(c.annotations ?? {}, `spec.configMapObjects[${index}].annotations`));
  return { name: c.configMapName, labels: c.labels ?? {}, annotations: c.annotations ?? {}, creationPolicy: c.creationPolicy ?? 'Owner', entries };
}

/** A KeyVaultIdentity after validation. */
export interface ResolvedKeyVaultIdentity {
  name: string | undefined;
  spec: KeyVaultIdentitySpec;
}

/** Parses and validates a KeyVaultIdentity; errors as for parseKeyVaultSync. */
export function parseKeyVaultIdentity(obj: unknown): ParseResult<ResolvedKeyVaultIdentity> {
  const issues: SpecIssue[] = [];
  const env = readEnvelope(obj, 'KeyVaultIdentity', issues);
  if (env === undefined || issues.length > 0) return fail(issues, []);
  const spec = withDefaults(KeyVaultIdentitySpecSchema, env.spec as KeyVaultIdentitySpec);
  issues.push(...schemaIssues(KeyVaultIdentitySpecSchema, spec, 'spec'));
  if (issues.length > 0) return fail(issues, []);
  for (const rule of KEY_VAULT_IDENTITY_RULES) issues.push(...rule.check(spec));
  if (issues.length > 0) return fail(issues, []);
  return { ok: true, value: { name: env.metadata.name, spec }, warnings: [] };
}

/**
 * The one list of validation rules that the schema cannot express. Each rule carries its CEL form
 * (emitted into the CRD as `x-kubernetes-validations` at `at`) and a TypeScript check that mirrors
 * that CEL expression on the same input: the typed spec after defaulting. The apiserver and
 * `parseKeyVaultSync` therefore reject the same specs with the same message.
 *
 * CEL sees only typed fields: it cannot parse the CSI `parameters.objects` YAML, so the rules that
 * need the object list stand aside when `parameters.objects` is set, and `resolve.ts` re-runs the
 * same checks (the shared helpers below) on the merged list of typed and CSI objects.
 */
import type { SpecIssue } from './errors.ts';
import type { KeyVaultIdentitySpec } from './keyvaultidentity-schema.ts';
import type { KeyVaultSyncSpec, ObjectType } from './keyvaultsync-schema.ts';
import type { CelRule } from './schema-helpers.ts';
import { parseGoDuration } from './duration.ts';

export interface Rule<S> {
  /** Stable identifier, used in tests. */
  id: string;
  /** Schema node the CEL rule is attached to; `[*]` means each item of a list. */
  at: string;
  cel: CelRule;
  /** Mirrors `cel` on the defaulted typed spec; returns the violations with their field paths. */
  check(spec: S): SpecIssue[];
}

/** Minimal view of an object for the reference checks. */
export interface ObjectRef {
  type: ObjectType;
  /** True when the object came from the CSI `parameters.objects` string. */
  fromParameters: boolean;
}

/** The CEL expression for "the output name of object o". */
const OUT = (v: string): string => `(has(${v}.alias) ? ${v}.alias : ${v}.name)`;
const PARAM_OBJECTS = `(has(self.parameters) && 'objects' in self.parameters)`;
/** Go strconv.ParseBool's true spellings, which the CSI provider accepts. */
const CSI_TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];

export function outputNameOf(o: { name: string; alias?: string | undefined }): string {
  return o.alias ?? o.name;
}

function csiTrue(v: string | undefined): boolean {
  return v !== undefined && CSI_TRUE.includes(v);
}

function typedObjectRefs(spec: KeyVaultSyncSpec): Map<string, ObjectRef> {
  const refs = new Map<string, ObjectRef>();
  for (const o of spec.objects ?? []) {
    const name = outputNameOf(o);
    if (!refs.has(name)) refs.set(name, { type: o.type ?? 'secret', fromParameters: false });
  }
  return refs;
}

export const MSG = {
  vaultRequired: 'one of spec.vault.name, spec.vault.url or spec.parameters.keyvaultName is required',
  vaultNameMatchesUrl: 'spec.vault.url must be the URL of the vault that spec.vault.name names (its host must start with that name and a dot); set one of them, or make them agree',
  tenantRequired: 'spec.vault.tenantID (or spec.parameters.tenantID) is required for workloadIdentity and servicePrincipal',
  identityExactlyOne: 'exactly one of workloadIdentity, podIdentity, managedIdentity and servicePrincipal must be set',
  outputNamesUnique: 'each object needs a unique output name (alias, or name when no alias is set)',
  encodingOnlySecret: 'encoding applies only to objects of type secret',
  pfxOnlyCertificate: 'format pfx applies only to objects of type certificate or secret',
  splitOnlySecret: 'split applies only to objects of type secret',
  secretRefsExist: 'every secretObjects[].data[].objectName must be the output name (alias or name) of an object',
  tlsNeedsCertificate: 'a kubernetes.io/tls secret must take its data from an object of type certificate',
  configMapRefs: 'every configMapObjects[].data[].objectName must name an object of type certificate, cert or key (secret values never go into ConfigMaps)',
  tlsOptionsOnlyTls: 'keyFormat, includeRoot and caCert apply only to secrets of type kubernetes.io/tls',
  dataKeysUnique: 'data keys must be unique',
  restartTargetNameXorSelector: 'set exactly one of name and selector',
  refreshInterval: 'refreshInterval must be "0" (fetch once) or at least 10s',
  namespacesGrant: 'set names, selector or both',
} as const;

// ---- shared checks, used by the CEL mirrors (typed objects) and by resolve.ts (merged objects) ----

/** Mirrors `secret-refs-exist`: each secretObjects data entry names a known object. */
export function checkSecretRefs(secretObjects: KeyVaultSyncSpec['secretObjects'], refs: ReadonlyMap<string, ObjectRef>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (secretObjects ?? []).forEach((s, i) =>
    s.data.forEach((d, j) => {
      if (!refs.has(d.objectName)) issues.push({ path: `spec.secretObjects[${i}].data[${j}].objectName`, message: `${MSG.secretRefsExist}; "${d.objectName}" is none` });
    }),
  );
  return issues;
}

/**
 * Mirrors `tls-needs-certificate`. A CSI object of type secret also qualifies: in the CSI provider a
 * certificate with its key is fetched as `objectType: secret` (its backing secret).
 */
export function checkTlsSources(secretObjects: KeyVaultSyncSpec['secretObjects'], refs: ReadonlyMap<string, ObjectRef>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (secretObjects ?? []).forEach((s, i) => {
    if (s.type !== 'kubernetes.io/tls') return;
    const ok = s.data.some((d) => {
      const r = refs.get(d.objectName);
      return r !== undefined && (r.type === 'certificate' || (r.fromParameters && r.type === 'secret'));
    });
    if (!ok) issues.push({ path: `spec.secretObjects[${i}]`, message: MSG.tlsNeedsCertificate });
  });
  return issues;
}

/** Mirrors `configmap-refs`: ConfigMaps take only public material. */
export function checkConfigMapRefs(configMapObjects: KeyVaultSyncSpec['configMapObjects'], refs: ReadonlyMap<string, ObjectRef>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (configMapObjects ?? []).forEach((c, i) =>
    c.data.forEach((d, j) => {
      const r = refs.get(d.objectName);
      if (r === undefined || r.type === 'secret') issues.push({ path: `spec.configMapObjects[${i}].data[${j}].objectName`, message: MSG.configMapRefs });
    }),
  );
  return issues;
}

/** Mirrors `object-output-names-unique`. */
export function checkOutputNamesUnique(names: readonly string[], pathOf: (index: number) => string): SpecIssue[] {
  const seen = new Set<string>();
  const issues: SpecIssue[] = [];
  names.forEach((n, i) => {
    if (seen.has(n)) issues.push({ path: pathOf(i), message: `${MSG.outputNamesUnique}; "${n}" is used twice` });
    seen.add(n);
  });
  return issues;
}

function checkDataKeysUnique(list: readonly { data: readonly { key?: string }[] }[] | undefined, field: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (list ?? []).forEach((s, i) => {
    const keys = s.data.flatMap((d) => (d.key === undefined ? [] : [d.key]));
    if (new Set(keys).size !== keys.length) issues.push({ path: `spec.${field}[${i}]`, message: MSG.dataKeysUnique });
  });
  return issues;
}

function each<T>(list: readonly T[] | undefined, field: string, bad: (item: T) => boolean, message: string): SpecIssue[] {
  return (list ?? []).flatMap((item, i) => (bad(item) ? [{ path: `spec.${field}[${i}]`, message }] : []));
}

// ---- the rules ----

export const KEY_VAULT_SYNC_RULES: readonly Rule<KeyVaultSyncSpec>[] = [
  {
    id: 'vault-required',
    at: 'spec',
    cel: {
      rule: `(has(self.vault) && (has(self.vault.name) || has(self.vault.url))) || (has(self.parameters) && 'keyvaultName' in self.parameters && self.parameters.keyvaultName != '')`,
      message: MSG.vaultRequired,
    },
    check: (s) =>
      s.vault?.name !== undefined || s.vault?.url !== undefined || (s.parameters?.keyvaultName ?? '') !== '' ? [] : [{ path: 'spec.vault', message: MSG.vaultRequired }],
  },
  {
    // A grant is checked on the vault, the requests go to the URL: both must be the same vault. (The
    // CSI keyvaultName is unbounded in length, too costly for CEL: parseKeyVaultSync compares it.)
    id: 'vault-name-matches-url',
    at: 'spec.vault',
    cel: { rule: `!has(self.name) || !has(self.url) || self.url.lowerAscii().startsWith('https://' + self.name.lowerAscii() + '.')`, message: MSG.vaultNameMatchesUrl },
    check: (s) => {
      const { name, url } = s.vault ?? {};
      return name === undefined || url === undefined || url.toLowerCase().startsWith(`https://${name.toLowerCase()}.`) ? [] : [{ path: 'spec.vault', message: MSG.vaultNameMatchesUrl }];
    },
  },
  {
    id: 'tenant-required',
    at: 'spec',
    cel: {
      rule:
        `(has(self.vault) && has(self.vault.tenantID))` +
        ` || (has(self.parameters) && (('tenantID' in self.parameters && self.parameters.tenantID != '') || ('tenantId' in self.parameters && self.parameters.tenantId != '')))` +
        ` || (has(self.identity) && (has(self.identity.podIdentity) || has(self.identity.managedIdentity)))` +
        ` || (!has(self.identity) && has(self.parameters) && (('usePodIdentity' in self.parameters && self.parameters.usePodIdentity in ${JSON.stringify(CSI_TRUE)})` +
        ` || ('useVMManagedIdentity' in self.parameters && self.parameters.useVMManagedIdentity in ${JSON.stringify(CSI_TRUE)})))`,
      message: MSG.tenantRequired,
    },
    check: (s) => {
      const p = s.parameters ?? {};
      const ok =
        s.vault?.tenantID !== undefined ||
        (p.tenantID ?? '') !== '' ||
        (p.tenantId ?? '') !== '' ||
        s.identity?.podIdentity !== undefined ||
        s.identity?.managedIdentity !== undefined ||
        (s.identity === undefined && (csiTrue(p.usePodIdentity) || csiTrue(p.useVMManagedIdentity)));
      return ok ? [] : [{ path: 'spec.vault.tenantID', message: MSG.tenantRequired }];
    },
  },
  {
    id: 'identity-exactly-one',
    at: 'spec.identity',
    cel: {
      rule: '[has(self.workloadIdentity), has(self.podIdentity), has(self.managedIdentity), has(self.servicePrincipal)].filter(x, x).size() == 1',
      message: MSG.identityExactlyOne,
    },
    check: (s) => {
      if (s.identity === undefined) return [];
      const i = s.identity;
      const n = [i.workloadIdentity, i.podIdentity, i.managedIdentity, i.servicePrincipal].filter((m) => m !== undefined).length;
      return n === 1 ? [] : [{ path: 'spec.identity', message: MSG.identityExactlyOne }];
    },
  },
  {
    id: 'object-output-names-unique',
    at: 'spec.objects',
    cel: { rule: `self.all(o, self.exists_one(p, ${OUT('p')} == ${OUT('o')}))`, message: MSG.outputNamesUnique },
    check: (s) => checkOutputNamesUnique((s.objects ?? []).map(outputNameOf), () => 'spec.objects'),
  },
  {
    id: 'object-encoding',
    at: 'spec.objects[*]',
    cel: { rule: `self.type == 'secret' || !has(self.encoding) || self.encoding == 'utf-8'`, message: MSG.encodingOnlySecret },
    check: (s) => each(s.objects, 'objects', (o) => o.type !== 'secret' && o.encoding !== undefined && o.encoding !== 'utf-8', MSG.encodingOnlySecret),
  },
  {
    id: 'object-format',
    at: 'spec.objects[*]',
    cel: { rule: `!has(self.format) || self.format == 'pem' || self.type == 'certificate' || self.type == 'secret'`, message: MSG.pfxOnlyCertificate },
    check: (s) => each(s.objects, 'objects', (o) => o.format === 'pfx' && o.type !== 'certificate' && o.type !== 'secret', MSG.pfxOnlyCertificate),
  },
  {
    id: 'object-split',
    at: 'spec.objects[*]',
    cel: { rule: `!has(self.split) || self.type == 'secret'`, message: MSG.splitOnlySecret },
    check: (s) => each(s.objects, 'objects', (o) => o.split !== undefined && o.type !== 'secret', MSG.splitOnlySecret),
  },
  {
    id: 'secret-refs-exist',
    at: 'spec',
    cel: {
      rule: `!has(self.secretObjects) || ${PARAM_OBJECTS} || self.secretObjects.all(s, s.data.all(d, has(self.objects) && self.objects.exists(o, ${OUT('o')} == d.objectName)))`,
      message: MSG.secretRefsExist,
    },
    check: (s) => (s.parameters?.objects !== undefined ? [] : checkSecretRefs(s.secretObjects, typedObjectRefs(s))),
  },
  {
    id: 'tls-needs-certificate',
    at: 'spec',
    cel: {
      rule: `!has(self.secretObjects) || ${PARAM_OBJECTS} || self.secretObjects.all(s, s.type != 'kubernetes.io/tls' || s.data.exists(d, has(self.objects) && self.objects.exists(o, ${OUT('o')} == d.objectName && o.type == 'certificate')))`,
      message: MSG.tlsNeedsCertificate,
    },
    check: (s) => (s.parameters?.objects !== undefined ? [] : checkTlsSources(s.secretObjects, typedObjectRefs(s))),
  },
  {
    id: 'configmap-refs',
    at: 'spec',
    cel: {
      rule: `!has(self.configMapObjects) || ${PARAM_OBJECTS} || self.configMapObjects.all(c, c.data.all(d, has(self.objects) && self.objects.exists(o, ${OUT('o')} == d.objectName && o.type != 'secret')))`,
      message: MSG.configMapRefs,
    },
    check: (s) => (s.parameters?.objects !== undefined ? [] : checkConfigMapRefs(s.configMapObjects, typedObjectRefs(s))),
  },
  {
    id: 'tls-options-only-tls',
    at: 'spec.secretObjects[*]',
    cel: { rule: `self.type == 'kubernetes.io/tls' || !(has(self.keyFormat) || has(self.includeRoot) || has(self.caCert))`, message: MSG.tlsOptionsOnlyTls },
    check: (s) =>
      each(s.secretObjects, 'secretObjects', (o) => o.type !== 'kubernetes.io/tls' && (o.keyFormat !== undefined || o.includeRoot !== undefined || o.caCert !== undefined), MSG.tlsOptionsOnlyTls),
  },
  {
    id: 'secret-data-keys-unique',
    at: 'spec.secretObjects[*]',
    cel: { rule: `self.data.all(d, !has(d.key) || self.data.exists_one(e, has(e.key) && e.key == d.key))`, message: MSG.dataKeysUnique },
    check: (s) => checkDataKeysUnique(s.secretObjects, 'secretObjects'),
  },
  {
    id: 'configmap-data-keys-unique',
    at: 'spec.configMapObjects[*]',
    cel: { rule: `self.data.all(d, !has(d.key) || self.data.exists_one(e, has(e.key) && e.key == d.key))`, message: MSG.dataKeysUnique },
    check: (s) => checkDataKeysUnique(s.configMapObjects, 'configMapObjects'),
  },
  {
    id: 'restart-target-name-xor-selector',
    at: 'spec.restartTargets[*]',
    cel: { rule: 'has(self.name) != has(self.selector)', message: MSG.restartTargetNameXorSelector },
    check: (s) => each(s.restartTargets, 'restartTargets', (t) => (t.name !== undefined) === (t.selector !== undefined), MSG.restartTargetNameXorSelector),
  },
  {
    id: 'refresh-interval-minimum',
    at: 'spec.refreshInterval',
    cel: { rule: `self == '0' || duration(self) >= duration('10s')`, message: MSG.refreshInterval },
    check: (s) => {
      if (s.refreshInterval === undefined) return [];
      const ms = parseGoDuration(s.refreshInterval);
      // An unparsable value is reported by the schema pattern; only the minimum is this rule's job.
      return ms === undefined || ms === 0 || ms >= 10_000 ? [] : [{ path: 'spec.refreshInterval', message: MSG.refreshInterval }];
    },
  },
];

export const KEY_VAULT_IDENTITY_RULES: readonly Rule<KeyVaultIdentitySpec>[] = [
  {
    id: 'namespaces-grant',
    at: 'spec.allowedNamespaces',
    cel: { rule: 'has(self.names) || has(self.selector)', message: MSG.namespacesGrant },
    check: (s) => (s.allowedNamespaces.names !== undefined || s.allowedNamespaces.selector !== undefined ? [] : [{ path: 'spec.allowedNamespaces', message: MSG.namespacesGrant }]),
  },
];

/** The CEL rules of KeyVaultSync at one schema node. */
export function celAt(at: string): CelRule[] {
  return KEY_VAULT_SYNC_RULES.filter((r) => r.at === at).map((r) => r.cel);
}

/** The CEL rules of KeyVaultIdentity at one schema node. */
export function identityCelAt(at: string): CelRule[] {
  return KEY_VAULT_IDENTITY_RULES.filter((r) => r.at === at).map((r) => r.cel);
}

/**
 * The validation rules that the schema cannot express: each CEL rule of `cel-rules.ts` paired with a
 * TypeScript check that mirrors that CEL expression on the same input, the typed spec after
 * defaulting. The apiserver and `parseKeyVaultSync` therefore reject the same specs with the same
 * message; the check tables are typed by rule id, so a CEL rule without its mirror does not compile.
 *
 * CEL sees only typed fields: it cannot parse the CSI `parameters.objects` YAML, so the rules that
 * need the object list stand aside when `parameters.objects` is set, and `resolve.ts` re-runs the
 * same checks (the shared helpers below) on the merged list of typed and CSI objects.
 */
import type { SpecIssue } from './errors.ts';
import type { KeyVaultIdentitySpec } from './keyvaultidentity-schema.ts';
import type { KeyVaultSyncSpec, ObjectType } from './keyvaultsync-schema.ts';
import { CSI_TRUE, KEY_VAULT_IDENTITY_CEL, KEY_VAULT_SYNC_CEL, MSG, namingCulprit } from './cel-rules.ts';
import type { KeyVaultIdentityRuleId, KeyVaultSyncRuleId, PlacedCelRule } from './cel-rules.ts';
import { parseGoDuration } from './duration.ts';
import { isProtectedSecretType } from './secret-types.ts';

export interface Rule<S> extends PlacedCelRule {
  /** Mirrors `cel` on the defaulted typed spec; returns the violations with their field paths. */
  check(spec: S): SpecIssue[];
}

/** Minimal view of an object for the reference checks. */
export interface ObjectRef {
  type: ObjectType;
  /** True when the object came from the CSI `parameters.objects` string. */
  fromParameters: boolean;
}

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

// ---- shared checks, used by the CEL mirrors (typed objects) and by resolve.ts (merged objects) ----

/** Whether an object carries a private key with its certificate (a certificate, or a CSI secret object). */
function certificateWithKey(r: ObjectRef): boolean {
  return r.type === 'certificate' || (r.fromParameters && r.type === 'secret');
}

/**
 * A reference to one of the separate files the CSI provider writes with
 * `--write-cert-and-key-in-separate-files`: `<output name>.crt` (the certificates) and
 * `<output name>.key` (the private key) of an object that carries a certificate with its key. An
 * object whose own output name is the reference wins.
 */
export function separateFileRef(objectName: string, refs: ReadonlyMap<string, ObjectRef>): { object: string; part: 'tls.crt' | 'tls.key' } | undefined {
  if (refs.has(objectName)) return undefined;
  const m = /^(.+)\.(crt|key)$/.exec(objectName);
  const base = m?.[1];
  const r = base === undefined ? undefined : refs.get(base);
  if (base === undefined || r === undefined || !certificateWithKey(r)) return undefined;
  return { object: base, part: m?.[2] === 'crt' ? 'tls.crt' : 'tls.key' };
}

/**
 * Mirrors `secret-refs-exist`: each secretObjects data entry names a known object. With `separateFiles`
 * (the merged list, where CSI objects are known), `<name>.crt` / `<name>.key` of a certificate count too.
 */
export function checkSecretRefs(secretObjects: KeyVaultSyncSpec['secretObjects'], refs: ReadonlyMap<string, ObjectRef>, separateFiles = false): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (secretObjects ?? []).forEach((s, i) =>
    (s.data ?? []).forEach((d, j) => {
      if (refs.has(d.objectName) || (separateFiles && separateFileRef(d.objectName, refs) !== undefined)) return;
      issues.push({ path: `spec.secretObjects[${i}].data[${j}].objectName`, message: namingCulprit(MSG.secretRefsExist, d.objectName) });
    }),
  );
  return issues;
}

/**
 * Mirrors `tls-needs-certificate`. A CSI object of type secret also qualifies: in the CSI provider a
 * certificate with its key is fetched as `objectType: secret` (its backing secret); so does its
 * separate `<name>.crt` / `<name>.key` file.
 */
export function checkTlsSources(secretObjects: KeyVaultSyncSpec['secretObjects'], refs: ReadonlyMap<string, ObjectRef>, separateFiles = false): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (secretObjects ?? []).forEach((s, i) => {
    if (s.type !== 'kubernetes.io/tls') return;
    const ok = (s.data ?? []).some((d) => {
      const r = refs.get(d.objectName);
      return (r !== undefined && certificateWithKey(r)) || (separateFiles && separateFileRef(d.objectName, refs) !== undefined);
    });
    if (ok) return;
    // The CSI driver would fail this Secret's sync too (tls.key has no key to take): say what to change.
    const csiCert = (s.data ?? []).find((d) => { const r = refs.get(d.objectName); return r?.fromParameters === true && r.type === 'cert'; });
    const hint = csiCert === undefined ? '' : `; "${csiCert.objectName}" has objectType cert, which fetches the public certificate only: use objectType secret to fetch the certificate with its private key`;
    issues.push({ path: `spec.secretObjects[${i}]`, message: `${MSG.tlsNeedsCertificate}${hint}` });
  });
  return issues;
}

/** Mirrors `configmap-refs`: ConfigMaps take only public material. */
export function checkConfigMapRefs(configMapObjects: KeyVaultSyncSpec['configMapObjects'], refs: ReadonlyMap<string, ObjectRef>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (configMapObjects ?? []).forEach((c, i) =>
    c.data.forEach((d, j) => {
      const r = refs.get(d.objectName);
      if (r === undefined || r.type === 'secret') issues.push({ path: `spec.configMapObjects[${i}].data[${j}].objectName`, message: namingCulprit(MSG.configMapRefs, d.objectName) });
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

function checkDataKeysUnique(list: readonly { data?: readonly { key?: string }[] | undefined }[] | undefined, field: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  (list ?? []).forEach((s, i) => {
    const keys = (s.data ?? []).flatMap((d) => (d.key === undefined ? [] : [d.key]));
    if (new Set(keys).size !== keys.length) issues.push({ path: `spec.${field}[${i}]`, message: MSG.dataKeysUnique });
  });
  return issues;
}

function each<T>(list: readonly T[] | undefined, field: string, bad: (item: T) => boolean, message: string): SpecIssue[] {
  return (list ?? []).flatMap((item, i) => (bad(item) ? [{ path: `spec.${field}[${i}]`, message }] : []));
}

// ---- the rules ----

const KEY_VAULT_SYNC_CHECKS: { [id in KeyVaultSyncRuleId]: (spec: KeyVaultSyncSpec) => SpecIssue[] } = {
  'vault-required': (s) =>
      s.vault?.name !== undefined || s.vault?.url !== undefined || (s.parameters?.keyvaultName ?? '') !== '' ? [] : [{ path: 'spec.vault', message: MSG.vaultRequired }],
  'vault-name-matches-url': (s) => {
      const { name, url } = s.vault ?? {};
      return name === undefined || url === undefined || url.toLowerCase().startsWith(`https://${name.toLowerCase()}.`) ? [] : [{ path: 'spec.vault', message: MSG.vaultNameMatchesUrl }];
    },
  'tenant-required': (s) => {
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
  'identity-exactly-one': (s) => {
      if (s.identity === undefined) return [];
      const i = s.identity;
      const n = [i.workloadIdentity, i.podIdentity, i.managedIdentity, i.servicePrincipal].filter((m) => m !== undefined).length;
      return n === 1 ? [] : [{ path: 'spec.identity', message: MSG.identityExactlyOne }];
    },
  'object-output-names-unique': (s) => checkOutputNamesUnique((s.objects ?? []).map(outputNameOf), () => 'spec.objects'),
  'object-encoding': (s) => each(s.objects, 'objects', (o) => o.type !== 'secret' && o.encoding !== undefined && o.encoding !== 'utf-8', MSG.encodingOnlySecret),
  'object-format': (s) => each(s.objects, 'objects', (o) => o.format === 'pfx' && o.type !== 'certificate' && o.type !== 'secret', MSG.pfxOnlyCertificate),
  'object-split': (s) => each(s.objects, 'objects', (o) => o.split !== undefined && o.type !== 'secret', MSG.splitOnlySecret),
  'secret-refs-exist': (s) => (s.parameters?.objects !== undefined ? [] : checkSecretRefs(s.secretObjects, typedObjectRefs(s))),
  'tls-needs-certificate': (s) => (s.parameters?.objects !== undefined ? [] : checkTlsSources(s.secretObjects, typedObjectRefs(s))),
  'configmap-refs': (s) => (s.parameters?.objects !== undefined ? [] : checkConfigMapRefs(s.configMapObjects, typedObjectRefs(s))),
  'tls-options-only-tls': (s) =>
      each(s.secretObjects, 'secretObjects', (o) => o.type !== 'kubernetes.io/tls' && (o.keyFormat !== undefined || o.includeRoot !== undefined || o.caCert !== undefined), MSG.tlsOptionsOnlyTls),
  'secret-type-not-protected': (s) =>
      (s.secretObjects ?? []).flatMap((o, i) => (o.type !== undefined && isProtectedSecretType(o.type) ? [{ path: `spec.secretObjects[${i}].type`, message: MSG.secretTypeProtected }] : [])),
  'secret-data-keys-unique': (s) => checkDataKeysUnique(s.secretObjects, 'secretObjects'),
  'secret-data-or-templates': (s) => each(s.secretObjects, 'secretObjects', (o) => o.data === undefined && o.templates === undefined && o.select === undefined, MSG.dataOrTemplates),
  'select-only-opaque': (s) => each(s.secretObjects, 'secretObjects', (o) => o.select !== undefined && o.type !== undefined && o.type !== 'Opaque', MSG.selectOnlyOpaque),
  'selector-criteria': (s) =>
      (s.secretObjects ?? []).flatMap((o, i) =>
        (o.select ?? []).flatMap((sel, j) => (sel.namePattern === undefined && sel.tags === undefined ? [{ path: `spec.secretObjects[${i}].select[${j}]`, message: MSG.selectorCriteria }] : [])),
      ),
  'secret-template-keys-unique': (s) =>
      each(s.secretObjects, 'secretObjects', (o) => {
        const keys = (o.templates ?? []).map((t) => t.key);
        const dataKeys = new Set((o.data ?? []).flatMap((d) => (d.key === undefined ? [] : [d.key])));
        return new Set(keys).size !== keys.length || keys.some((k) => dataKeys.has(k));
      }, MSG.templateKeysUnique),
  'configmap-data-keys-unique': (s) => checkDataKeysUnique(s.configMapObjects, 'configMapObjects'),
  'restart-target-name-xor-selector': (s) => each(s.restartTargets, 'restartTargets', (t) => (t.name !== undefined) === (t.selector !== undefined), MSG.restartTargetNameXorSelector),
  'refresh-interval-minimum': (s) => {
      if (s.refreshInterval === undefined) return [];
      const ms = parseGoDuration(s.refreshInterval);
      // An unparsable value is reported by the schema pattern; only the minimum is this rule's job.
      return ms === undefined || ms === 0 || ms >= 10_000 ? [] : [{ path: 'spec.refreshInterval', message: MSG.refreshInterval }];
    },
};

const KEY_VAULT_IDENTITY_CHECKS: { [id in KeyVaultIdentityRuleId]: (spec: KeyVaultIdentitySpec) => SpecIssue[] } = {
  'namespaces-grant': (s) => (s.allowedNamespaces.names !== undefined || s.allowedNamespaces.selector !== undefined ? [] : [{ path: 'spec.allowedNamespaces', message: MSG.namespacesGrant }]),
};

export const KEY_VAULT_SYNC_RULES: readonly Rule<KeyVaultSyncSpec>[] = KEY_VAULT_SYNC_CEL.map((r) => ({ ...r, check: KEY_VAULT_SYNC_CHECKS[r.id] }));

export const KEY_VAULT_IDENTITY_RULES: readonly Rule<KeyVaultIdentitySpec>[] = KEY_VAULT_IDENTITY_CEL.map((r) => ({ ...r, check: KEY_VAULT_IDENTITY_CHECKS[r.id] }));

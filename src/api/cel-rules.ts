/**
 * The CEL rules of the CRDs: what the apiserver checks beyond the schema, each with the schema node it
 * is attached to (`at`). The schemas place them into `x-kubernetes-validations`; `rules.ts` pairs each
 * with a TypeScript check that mirrors it on the defaulted typed spec, so the apiserver and
 * `parseKeyVaultSync` reject the same specs with the same message. This module needs no spec type,
 * so the schemas can import it.
 *
 * CEL sees only typed fields: it cannot parse the CSI `parameters.objects` YAML, so the rules that
 * need the object list stand aside when `parameters.objects` is set.
 */
import type { CelRule } from './schema-helpers.ts';
import { PROTECTED_SECRET_TYPES } from './secret-types.ts';

export interface PlacedCelRule {
  /** Stable identifier, used in tests. */
  id: string;
  /** Schema node the CEL rule is attached to; `[*]` means each item of a list. */
  at: string;
  cel: CelRule;
}

/** The CEL expression for "the output name of object o". */
const OUT = (v: string): string => `(has(${v}.alias) ? ${v}.alias : ${v}.name)`;
const PARAM_OBJECTS = `(has(self.parameters) && 'objects' in self.parameters)`;
/** The CEL expression for "d.objectName is the output name of a typed object". */
const NAMES_AN_OBJECT = `has(self.objects) && self.objects.exists(o, ${OUT('o')} == d.objectName)`;
/** The CEL expression for "d.objectName is the output name of a typed object that holds no secret value". */
const NAMES_A_PUBLIC_OBJECT = `has(self.objects) && self.objects.exists(o, ${OUT('o')} == d.objectName && o.type != 'secret')`;
/** Go strconv.ParseBool's true spellings, which the CSI provider accepts. */
export const CSI_TRUE: readonly string[] = ['1', 't', 'T', 'TRUE', 'true', 'True'];

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
  dataOrTemplates: 'set data, templates, select, or several of them',
  selectOnlyOpaque: 'select applies only to secrets of type Opaque',
  selectorCriteria: 'set namePattern, tags or both ("*" selects every object of the type)',
  templateKeysUnique: 'template keys must be unique and differ from the keys of data',
  secretTypeProtected: `type must not be ${PROTECTED_SECRET_TYPES.join(', ')}: a writer of such a Secret could act as a ServiceAccount, a node or a Helm release; use Opaque or the type your consumer reads`,
  restartTargetNameXorSelector: 'set exactly one of name and selector',
  refreshInterval: 'refreshInterval must be "0" (fetch once) or at least 10s',
  namespacesGrant: 'set names, selector or both',
} as const;

const CULPRIT_BEFORE = '; "';
const CULPRIT_AFTER = '" is none';

/** A rule's message followed by the offending name, as both the apiserver and the parser report it. */
export function namingCulprit(message: string, name: string): string {
  return message + CULPRIT_BEFORE + name + CULPRIT_AFTER;
}

/**
 * A messageExpression that names the first `self.<outer>[i].<inner>[j].<field>` for which `ok` (a
 * CEL expression over `d`) is false, in the words of `namingCulprit`. It runs only when the rule
 * failed, so such an entry exists. Shaped for the apiserver's cost limits:
 * - the indexes come from map + indexOf and the name is read by indexing the schema's own lists,
 *   because the static estimate loses the length bounds of what `filter` (or a nested `map`)
 *   returns, and a string of unbounded length in the message is estimated far over budget;
 * - `[x].map(i, ...)[0]` binds `i` once (CEL here has no `let`): computing the outer index twice
 *   costs twice the rule, over the per-call limit for a spec at its list bounds.
 */
function firstFailingName(message: string, outer: string, inner: string, field: string, ok: string): string {
  const i = `self.${outer}.map(s, has(s.${inner}) && s.${inner}.exists(d, !(${ok}))).indexOf(true)`;
  const j = `self.${outer}[i].${inner}.map(d, !(${ok})).indexOf(true)`;
  return `[${i}].map(i, ${JSON.stringify(message + CULPRIT_BEFORE)} + self.${outer}[i].${inner}[${j}].${field} + ${JSON.stringify(CULPRIT_AFTER)})[0]`;
}

export const KEY_VAULT_SYNC_CEL = [
  {
    id: 'vault-required',
    at: 'spec',
    cel: {
      rule: `(has(self.vault) && (has(self.vault.name) || has(self.vault.url))) || (has(self.parameters) && 'keyvaultName' in self.parameters && self.parameters.keyvaultName != '')`,
      message: MSG.vaultRequired,
    },
  },
  {
    // A grant is checked on the vault, the requests go to the URL: both must be the same vault. (The
    // CSI keyvaultName is unbounded in length, too costly for CEL: parseKeyVaultSync compares it.)
    id: 'vault-name-matches-url',
    at: 'spec.vault',
    cel: { rule: `!has(self.name) || !has(self.url) || self.url.lowerAscii().startsWith('https://' + self.name.lowerAscii() + '.')`, message: MSG.vaultNameMatchesUrl },
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
  },
  {
    id: 'identity-exactly-one',
    at: 'spec.identity',
    cel: {
      rule: '[has(self.workloadIdentity), has(self.podIdentity), has(self.managedIdentity), has(self.servicePrincipal)].filter(x, x).size() == 1',
      message: MSG.identityExactlyOne,
    },
  },
  {
    id: 'object-output-names-unique',
    at: 'spec.objects',
    cel: { rule: `self.all(o, self.exists_one(p, ${OUT('p')} == ${OUT('o')}))`, message: MSG.outputNamesUnique },
  },
  {
    id: 'object-encoding',
    at: 'spec.objects[*]',
    cel: { rule: `self.type == 'secret' || !has(self.encoding) || self.encoding == 'utf-8'`, message: MSG.encodingOnlySecret },
  },
  {
    id: 'object-format',
    at: 'spec.objects[*]',
    cel: { rule: `!has(self.format) || self.format == 'pem' || self.type == 'certificate' || self.type == 'secret'`, message: MSG.pfxOnlyCertificate },
  },
  {
    id: 'object-split',
    at: 'spec.objects[*]',
    cel: { rule: `!has(self.split) || self.type == 'secret'`, message: MSG.splitOnlySecret },
  },
  {
    id: 'secret-refs-exist',
    at: 'spec',
    cel: {
      rule: `!has(self.secretObjects) || ${PARAM_OBJECTS} || self.secretObjects.all(s, !has(s.data) || s.data.all(d, ${NAMES_AN_OBJECT}))`,
      message: MSG.secretRefsExist,
      messageExpression: firstFailingName(MSG.secretRefsExist, 'secretObjects', 'data', 'objectName', NAMES_AN_OBJECT),
    },
  },
  {
    id: 'tls-needs-certificate',
    at: 'spec',
    cel: {
      rule: `!has(self.secretObjects) || ${PARAM_OBJECTS} || self.secretObjects.all(s, s.type != 'kubernetes.io/tls' || (has(s.data) && s.data.exists(d, has(self.objects) && self.objects.exists(o, ${OUT('o')} == d.objectName && o.type == 'certificate'))))`,
      message: MSG.tlsNeedsCertificate,
    },
  },
  {
    id: 'configmap-refs',
    at: 'spec',
    cel: {
      rule: `!has(self.configMapObjects) || ${PARAM_OBJECTS} || self.configMapObjects.all(c, c.data.all(d, ${NAMES_A_PUBLIC_OBJECT}))`,
      message: MSG.configMapRefs,
      messageExpression: firstFailingName(MSG.configMapRefs, 'configMapObjects', 'data', 'objectName', NAMES_A_PUBLIC_OBJECT),
    },
  },
  {
    id: 'tls-options-only-tls',
    at: 'spec.secretObjects[*]',
    cel: { rule: `self.type == 'kubernetes.io/tls' || !(has(self.keyFormat) || has(self.includeRoot) || has(self.caCert))`, message: MSG.tlsOptionsOnlyTls },
  },
  {
    id: 'secret-type-not-protected',
    at: 'spec.secretObjects[*].type',
    cel: { rule: `!(self.lowerAscii() in ${JSON.stringify(PROTECTED_SECRET_TYPES)})`, message: MSG.secretTypeProtected },
  },
  {
    id: 'secret-data-keys-unique',
    at: 'spec.secretObjects[*]',
    cel: { rule: `!has(self.data) || self.data.all(d, !has(d.key) || self.data.exists_one(e, has(e.key) && e.key == d.key))`, message: MSG.dataKeysUnique },
  },
  {
    id: 'secret-data-or-templates',
    at: 'spec.secretObjects[*]',
    cel: { rule: 'has(self.data) || has(self.templates) || has(self.select)', message: MSG.dataOrTemplates },
  },
  {
    id: 'select-only-opaque',
    at: 'spec.secretObjects[*]',
    cel: { rule: `!has(self.select) || !has(self.type) || self.type == 'Opaque'`, message: MSG.selectOnlyOpaque },
  },
  {
    id: 'selector-criteria',
    at: 'spec.secretObjects[*].select[*]',
    cel: { rule: 'has(self.namePattern) || has(self.tags)', message: MSG.selectorCriteria },
  },
  {
    id: 'secret-template-keys-unique',
    at: 'spec.secretObjects[*]',
    cel: {
      rule: `!has(self.templates) || self.templates.all(t, self.templates.exists_one(u, u.key == t.key) && !(has(self.data) && self.data.exists(d, has(d.key) && d.key == t.key)))`,
      message: MSG.templateKeysUnique,
    },
  },
  {
    id: 'configmap-data-keys-unique',
    at: 'spec.configMapObjects[*]',
    cel: { rule: `self.data.all(d, !has(d.key) || self.data.exists_one(e, has(e.key) && e.key == d.key))`, message: MSG.dataKeysUnique },
  },
  {
    id: 'restart-target-name-xor-selector',
    at: 'spec.restartTargets[*]',
    cel: { rule: 'has(self.name) != has(self.selector)', message: MSG.restartTargetNameXorSelector },
  },
  {
    id: 'refresh-interval-minimum',
    at: 'spec.refreshInterval',
    cel: { rule: `self == '0' || duration(self) >= duration('10s')`, message: MSG.refreshInterval },
  },
] as const satisfies readonly PlacedCelRule[];

export const KEY_VAULT_IDENTITY_CEL = [
  {
    id: 'namespaces-grant',
    at: 'spec.allowedNamespaces',
    cel: { rule: 'has(self.names) || has(self.selector)', message: MSG.namespacesGrant },
  },
] as const satisfies readonly PlacedCelRule[];

export type KeyVaultSyncRuleId = (typeof KEY_VAULT_SYNC_CEL)[number]['id'];
export type KeyVaultIdentityRuleId = (typeof KEY_VAULT_IDENTITY_CEL)[number]['id'];

/** The CEL rules of KeyVaultSync at one schema node. */
export function celAt(at: string): CelRule[] {
  return KEY_VAULT_SYNC_CEL.filter((r) => r.at === at).map((r) => r.cel);
}

/** The CEL rules of KeyVaultIdentity at one schema node. */
export function identityCelAt(at: string): CelRule[] {
  return KEY_VAULT_IDENTITY_CEL.filter((r) => r.at === at).map((r) => r.cel);
}

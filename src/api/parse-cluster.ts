/**
 * parseClusterKeyVaultSync: a ClusterKeyVaultSync is checked against its own schema and rules, then
 * resolved exactly as a KeyVaultSync of the same spec (one parser, one set of rules and messages).
 * The resolved sync has no namespace: its identity is resolved in the controller's own namespace, and
 * its outputs are written into each selected namespace.
 */
import { CLUSTER_KEY_VAULT_SYNC_CEL, CLUSTER_MSG, ClusterKeyVaultSyncSpecSchema, NAMESPACED_ONLY_FIELDS } from './clusterkeyvaultsync-schema.ts';
import type { ClusterKeyVaultSyncRuleId, ClusterKeyVaultSyncSpec, NamespaceSelector } from './clusterkeyvaultsync-schema.ts';
import { API_VERSION } from './crd.ts';
import { InvalidSpecError } from './errors.ts';
import type { SpecIssue } from './errors.ts';
import { parseKeyVaultSync } from './parse.ts';
import type { ParseResult } from './parse.ts';
import type { ResolvedKeyVaultSync } from './resolved.ts';
import { schemaIssues, withDefaults } from './validate.ts';
import { AZURE_VAULT_HOSTS_ONLY } from './vault-url.ts';
import type { VaultHostPolicy } from './vault-url.ts';

export const CLUSTER_KIND = 'ClusterKeyVaultSync';

export interface ResolvedClusterKeyVaultSync {
  name: string;
  /** The objects, outputs, identity and policies, resolved as for a KeyVaultSync; `namespace` is undefined. */
  sync: ResolvedKeyVaultSync;
  namespaceSelector: NamespaceSelector;
}

/** The TypeScript mirror of each ClusterKeyVaultSync CEL rule (typed by id: a rule without its mirror does not compile). */
const CLUSTER_CHECKS: { [id in ClusterKeyVaultSyncRuleId]: (spec: ClusterKeyVaultSyncSpec) => SpecIssue[] } = {
  'cluster-namespaced-only-fields': (s) => NAMESPACED_ONLY_FIELDS.filter((f) => s[f] !== undefined).map((f) => ({ path: `spec.${f}`, message: CLUSTER_MSG.namespacedOnly })),
  'cluster-creation-policy-owner': (s) =>
    (s.secretObjects ?? []).flatMap((o, i) => (o.creationPolicy !== undefined && o.creationPolicy !== 'Owner' ? [{ path: `spec.secretObjects[${i}].creationPolicy`, message: CLUSTER_MSG.ownerOnly }] : [])),
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail<T>(issues: SpecIssue[], warnings: string[] = []): ParseResult<T> {
  return { ok: false, error: new InvalidSpecError(issues), warnings };
}

/** Parses and resolves a ClusterKeyVaultSync; never throws for bad input (InvalidSpecError naming each field). */
export function parseClusterKeyVaultSync(obj: unknown, vaults: VaultHostPolicy = AZURE_VAULT_HOSTS_ONLY): ParseResult<ResolvedClusterKeyVaultSync> {
  if (!isRecord(obj)) return fail([{ path: '', message: `must be a ${CLUSTER_KIND} object` }]);
  const issues: SpecIssue[] = [];
  if (obj.apiVersion !== API_VERSION) issues.push({ path: 'apiVersion', message: `must be ${API_VERSION}` });
  if (obj.kind !== CLUSTER_KIND) issues.push({ path: 'kind', message: `must be ${CLUSTER_KIND}` });
  if (!isRecord(obj.spec)) issues.push({ path: 'spec', message: 'is required and must be an object' });
  if (issues.length > 0) return fail(issues);
  const metadata = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';

  const spec = withDefaults(ClusterKeyVaultSyncSpecSchema, obj.spec as ClusterKeyVaultSyncSpec);
  issues.push(...schemaIssues(ClusterKeyVaultSyncSpecSchema, spec, 'spec'));
  if (issues.length > 0) return fail(issues);
  for (const rule of CLUSTER_KEY_VAULT_SYNC_CEL) issues.push(...CLUSTER_CHECKS[rule.id](spec));
  if (issues.length > 0) return fail(issues);

  const { namespaceSelector, ...syncSpec } = spec;
  const parsed = parseKeyVaultSync({ apiVersion: API_VERSION, kind: 'KeyVaultSync', metadata: { name, generation: metadata.generation }, spec: syncSpec }, vaults);
  if (!parsed.ok) return parsed;
  return { ok: true, warnings: parsed.warnings, value: { name, sync: parsed.value, namespaceSelector } };
}

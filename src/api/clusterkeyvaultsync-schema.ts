/**
 * The ClusterKeyVaultSync schema (kvsync.dev/v1alpha1, cluster-scoped): a KeyVaultSync that cluster
 * admins write once and kvsync applies in every namespace its `namespaceSelector` matches. Its spec is
 * the KeyVaultSync spec (so every KeyVaultSync CEL rule applies unchanged) plus `namespaceSelector`,
 * with the namespaced-only fields refused by the rules below: ConfigMaps, rollouts of tenants'
 * workloads, the CSI parameters, and creation policies other than Owner.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { celAt } from './cel-rules.ts';
import type { PlacedCelRule } from './cel-rules.ts';
import { KeyVaultSyncSpecSchema, KeyVaultSyncStatusSchema } from './keyvaultsync-schema.ts';
import { LabelSelector, withDescription } from './schema-helpers.ts';

/** Bounds of the status: the namespaces that failed are listed up to this many (the count is exact). */
export const CLUSTER_STATUS_LIMITS = { failedNamespaces: 16, messageLength: 1024 } as const;

/** Spec fields of a KeyVaultSync that a ClusterKeyVaultSync may not use (each is the namespace owner's business). */
export const NAMESPACED_ONLY_FIELDS = ['configMapObjects', 'restartTargets', 'parameters', 'provider'] as const;

export const CLUSTER_MSG = {
  namespacedOnly: `a ClusterKeyVaultSync has no ${NAMESPACED_ONLY_FIELDS.join(', ')}: use a KeyVaultSync in the namespace`,
  ownerOnly: 'a ClusterKeyVaultSync creates its Secrets (creationPolicy Owner); use deletionPolicy Retain to keep them',
} as const;

/** The CEL rules of ClusterKeyVaultSync beyond those of KeyVaultSync; parse-cluster.ts mirrors each by id. */
export const CLUSTER_KEY_VAULT_SYNC_CEL = [
  {
    id: 'cluster-namespaced-only-fields',
    at: 'spec',
    cel: { rule: NAMESPACED_ONLY_FIELDS.map((f) => `!has(self.${f})`).join(' && '), message: CLUSTER_MSG.namespacedOnly },
  },
  {
    id: 'cluster-creation-policy-owner',
    at: 'spec',
    cel: { rule: `!has(self.secretObjects) || self.secretObjects.all(s, !has(s.creationPolicy) || s.creationPolicy == 'Owner')`, message: CLUSTER_MSG.ownerOnly },
  },
] as const satisfies readonly PlacedCelRule[];

export type ClusterKeyVaultSyncRuleId = (typeof CLUSTER_KEY_VAULT_SYNC_CEL)[number]['id'];

export const ClusterKeyVaultSyncSpecSchema = Type.Object(
  {
    ...KeyVaultSyncSpecSchema.properties,
    namespaceSelector: LabelSelector(
      'The namespaces to sync into, by label (metav1.LabelSelector; {} selects every namespace). A namespace that starts matching gets the Secrets at once; one that stops matching loses them per deletionPolicy.',
    ),
  },
  {
    description: 'What to sync from which vault, with which identity (in the controller\'s own namespace), into which Secrets of every selected namespace.',
    'x-kubernetes-validations': [...celAt('spec'), ...CLUSTER_KEY_VAULT_SYNC_CEL.map((r) => r.cel)],
  },
);

export const FailedNamespaceSchema = Type.Object(
  {
    name: Type.String({ description: 'Namespace.', maxLength: 63 }),
    reason: Type.String({ description: 'Why its Secrets were not written (SecretConflict, WriteFailed, ...).', maxLength: 128 }),
    message: Type.String({ description: 'What happened, in words (never a value).', maxLength: CLUSTER_STATUS_LIMITS.messageLength }),
  },
  { description: 'A selected namespace whose Secrets the last sync could not write.' },
);

/**
 * The KeyVaultSync status fields a ClusterKeyVaultSync shares (its Secrets are counted per namespace
 * instead of listed), described for a resource that writes into many namespaces.
 */
const shared = KeyVaultSyncStatusSchema.properties;

export const ClusterKeyVaultSyncStatusSchema = Type.Object(
  {
    observedGeneration: shared.observedGeneration,
    conditions: withDescription(shared.conditions, 'Ready (every selected namespace synced) and Synced, with reasons such as VaultAccessDenied, NamespacesFailed, InvalidSpec.'),
    lastSyncTime: withDescription(shared.lastSyncTime, 'When a sync last wrote the status.'),
    matchedNamespaces: Type.Optional(Type.Integer({ description: 'Namespaces the namespaceSelector selects.', minimum: 0 })),
    syncedNamespaces: Type.Optional(Type.Integer({ description: 'Selected namespaces whose Secrets the last sync wrote (or found current).', minimum: 0 })),
    failedNamespaces: Type.Optional(
      Type.Array(FailedNamespaceSchema, { maxItems: CLUSTER_STATUS_LIMITS.failedNamespaces, description: `Selected namespaces the last sync could not write, the first ${CLUSTER_STATUS_LIMITS.failedNamespaces} by name (matchedNamespaces - syncedNamespaces is the count).` }),
    ),
    objects: withDescription(shared.objects, 'Per-object sync state (read once for every namespace).'),
  },
  { description: KeyVaultSyncStatusSchema.description },
);

export type ClusterKeyVaultSyncSpec = Static<typeof ClusterKeyVaultSyncSpecSchema>;
export type ClusterKeyVaultSyncStatus = Static<typeof ClusterKeyVaultSyncStatusSchema>;
export type FailedNamespace = Static<typeof FailedNamespaceSchema>;
export type NamespaceSelector = ClusterKeyVaultSyncSpec['namespaceSelector'];

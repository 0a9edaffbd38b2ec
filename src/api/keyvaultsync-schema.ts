/**
 * The KeyVaultSync schema (kvsync.dev/v1alpha1, namespaced). Field names are the published API (docs/api.md).
 * Types are derived from the schema; `crd.ts` emits the CRD from it; CEL rules come from `rules.ts`,
 * whose TypeScript checks mirror them one by one.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { CLOUD_NAMES } from './cloud.ts';
import { GO_DURATION_PATTERN } from './duration.ts';
import { DATA_KEY_PATTERN } from './kube-names.ts';
import { VAULT_URL_PATTERN } from './vault-url.ts';
import { celAt } from './cel-rules.ts';
import { TEMPLATE_ENCODINGS, TEMPLATE_LIMITS } from './template.ts';
import { Condition, DataKey, Guid, LabelSelector, ObjectName, StringEnum, StringMap, TenantId } from './schema-helpers.ts';

/** Bounds that keep the apiserver's CEL cost estimate inside its budget. */
export const LIMITS = {
  /** Objects of one KeyVaultSync, typed and CSI `parameters.objects` together. */
  objects: 64,
  /** Object versions one sync may read: the sum over objects of max(1, versionHistory). */
  objectReads: 256,
  secretObjects: 16,
  configMapObjects: 16,
  dataEntries: 32,
  restartTargets: 16,
  parameters: 32,
  parameterValueLength: 32768,
  labels: 64,
  labelValueLength: 8192,
} as const;

export const OBJECT_TYPES = ['secret', 'certificate', 'cert', 'key'] as const;
export const OBJECT_ENCODINGS = ['utf-8', 'base64', 'hex'] as const;
export const OBJECT_FORMATS = ['pem', 'pfx'] as const;
export const SPLIT_FORMATS = ['json', 'yaml'] as const;
export const CREATION_POLICIES = ['Owner', 'Merge', 'Orphan'] as const;
export const DELETION_POLICIES = ['Delete', 'Retain'] as const;
export const KEY_FORMATS = ['pkcs8', 'pkcs1', 'sec1'] as const;
export const RESTART_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

/** A Secret type: a name, optionally behind a DNS-subdomain prefix and a slash (`kubernetes.io/tls`, `tls`). */
const SECRET_TYPE_PATTERN = '^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$';
const KEY_VAULT_OBJECT_NAME = '^[0-9a-zA-Z-]{1,127}$';
/** An object's output name (alias, or name): a file name and a Secret key. */
const OUTPUT_NAME = { minLength: 1, maxLength: 127, pattern: DATA_KEY_PATTERN } as const;

export const VaultSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        description: 'Key Vault name; the vault is https://<name>.<cloud DNS suffix> unless url is set.',
        minLength: 3,
        maxLength: 24,
        pattern: '^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$',
      }),
    ),
    tenantID: Type.Optional(TenantId('Entra tenant (GUID or domain) of the vault; required for workloadIdentity and servicePrincipal.')),
    url: Type.Optional(
      Type.String({
        description:
          'Vault URL, https://<host>[:port] (no path); with name set too, its host must start with "<name>.". Hosts other than Azure Key Vault hosts (*.vault.azure.net, *.vault.azure.cn, *.vault.usgovcloudapi.net) need the operator flag --allowed-vault-hosts (Azure Stack Hub, private DNS).',
        maxLength: 512,
        pattern: VAULT_URL_PATTERN,
      }),
    ),
    cloudName: Type.Optional(StringEnum(CLOUD_NAMES, { description: 'Azure cloud of the vault; decides the vault DNS suffix. Default AzurePublicCloud.' })),
  },
  { description: 'The Key Vault to read from.', 'x-kubernetes-validations': celAt('spec.vault') },
);

const IdentityRef = ObjectName('Name of a cluster-scoped KeyVaultIdentity that grants this namespace and vault.');

export const IdentitySchema = Type.Object(
  {
    workloadIdentity: Type.Optional(
      Type.Object(
        {
          serviceAccountName: ObjectName('ServiceAccount in this namespace whose token is exchanged (audience api://AzureADTokenExchange).'),
          clientID: Type.Optional(Guid('Client ID of the Entra application or managed identity; default: the ServiceAccount annotation azure.workload.identity/client-id.')),
        },
        { description: 'Workload identity federation through a ServiceAccount token (recommended).' },
      ),
    ),
    podIdentity: Type.Optional(
      Type.Object({ identityRef: IdentityRef }, { description: 'aad-pod-identity style: the operator asks IMDS (NMI) for a token of a shared identity.' }),
    ),
    managedIdentity: Type.Optional(
      Type.Object({ identityRef: IdentityRef }, { description: 'VM / kubelet managed identity through IMDS, fenced by a KeyVaultIdentity.' }),
    ),
    servicePrincipal: Type.Optional(
      Type.Object(
        {
          secretRef: Type.Object(
            {
              name: ObjectName('Secret in this namespace holding the client ID and client secret.'),
              clientIDKey: Type.Optional(DataKey('Key of the client ID in the Secret (CSI style).', { default: 'clientid' })),
              clientSecretKey: Type.Optional(DataKey('Key of the client secret in the Secret (CSI style).', { default: 'clientsecret' })),
            },
            { description: 'Reference to the credentials Secret.' },
          ),
        },
        { description: 'An Entra application with a client secret (CSI nodePublishSecretRef style).' },
      ),
    ),
  },
  { description: 'How kvsync authenticates to the vault: exactly one mode. Default when omitted: workloadIdentity with the ServiceAccount "default" (or the mode the CSI parameters select).' },
);

export const VaultObjectSchema = Type.Object(
  {
    name: Type.String({ description: 'Name of the secret, certificate or key in the vault.', minLength: 1, maxLength: 127, pattern: KEY_VAULT_OBJECT_NAME }),
    type: Type.Optional(
      StringEnum(OBJECT_TYPES, {
        description: 'secret: a secret value; certificate: a certificate with its private key (read through its backing secret); cert: the public certificate only (CSI objectType cert); key: the public key as PEM.',
        default: 'secret',
      }),
    ),
    alias: Type.Optional(Type.String({ description: 'Output name (file name, default Secret key, name secretObjects refer to); default: name.', ...OUTPUT_NAME })),
    version: Type.Optional(Type.String({ description: 'Pinned version; empty or omitted means the current version.', maxLength: 64, pattern: '^[0-9a-zA-Z]*$' })),
    versionHistory: Type.Optional(
      Type.Integer({ description: 'Number of versions to fetch, newest first (CSI objectVersionHistory); 0 or 1 means the current one only.', minimum: 0, maximum: 100 }),
    ),
    encoding: Type.Optional(StringEnum(OBJECT_ENCODINGS, { description: 'How a secret value is stored in the vault; kvsync decodes it (secret objects only).', default: 'utf-8' })),
    format: Type.Optional(StringEnum(OBJECT_FORMATS, { description: 'pem, or pfx for the PKCS#12 bytes (certificate or secret objects only).', default: 'pem' })),
    optional: Type.Optional(Type.Boolean({ description: 'If true, a missing or disabled object does not fail the sync; its keys are left out.', default: false })),
    filePermission: Type.Optional(Type.String({ description: 'Octal file mode when mounted, e.g. "0644" (CSI filePermission).', maxLength: 4, pattern: '^0?[0-7]{3}$' })),
    split: Type.Optional(
      StringEnum(SPLIT_FORMATS, { description: 'Treat the secret value as a flat JSON or YAML object and emit one key per property (akv2k8s multi-key-value-secret).' }),
    ),
  },
  { description: 'One Key Vault object to fetch.' },
);

const DataEntrySchema = Type.Object(
  {
    objectName: Type.String({ description: 'Output name (alias, or name) of an object in objects or in parameters.objects.', ...OUTPUT_NAME }),
    key: Type.Optional(
      DataKey('Key in the output; default: inferred (tls.crt/tls.key for a tls certificate, .dockerconfigjson, otherwise the object output name).'),
    ),
  },
  { description: 'One key of the output and the object it comes from.' },
);

const SecretTemplateSchema = Type.Object(
  {
    key: DataKey('Key in the Secret that the template fills.'),
    template: Type.String({
      description: `Logic-less template: literal text and {{ name }} for the content of the object with that output name, optionally piped through encodings applied left to right ({{ name | url-query }}; encodings: ${TEMPLATE_ENCODINGS.join(', ')}); {{ '{{' }} writes a literal "{{". No functions, conditions or loops; only objects of this KeyVaultSync; values are never parsed as templates.`,
      minLength: 1,
      maxLength: TEMPLATE_LIMITS.length,
    }),
  },
  { description: 'One Secret key built from several objects (a connection string, a config file).' },
);

export const SELECTOR_TYPES = ['secret', 'certificate'] as const;
export const SELECTION_LIMITS = { selectorsPerSecret: 8, tags: 16 } as const;

const ObjectSelectorSchema = Type.Object(
  {
    type: Type.Optional(
      StringEnum(SELECTOR_TYPES, {
        description: 'secret: secrets that no certificate manages; certificate: certificates with their private key (through the backing secret). Default secret.',
        default: 'secret',
      }),
    ),
    namePattern: Type.Optional(
      Type.String({
        description: 'Glob over Key Vault object names, case-insensitive, matched whole: * is any run of characters, ? one character (e.g. app-*, *).',
        minLength: 1,
        maxLength: 127,
        pattern: '^[-0-9a-zA-Z*?]+$',
      }),
    ),
    tags: Type.Optional(
      StringMap({ maxProperties: SELECTION_LIMITS.tags, maxValueLength: 256, description: 'Tags every selected object must carry with exactly these values (a certificate\'s tags as its backing secret carries them).' }),
    ),
    keyPrefix: Type.Optional(Type.String({ description: 'Put before each selected object\'s key; default none.', minLength: 1, maxLength: 64, pattern: '^[-._a-zA-Z0-9]+$' })),
  },
  {
    description: 'Selects every enabled Key Vault object of a type whose name matches namePattern and that carries tags; each becomes the key <keyPrefix><name> (secrets) or <keyPrefix><name>.pem (certificates: private key and chain).',
    'x-kubernetes-validations': celAt('spec.secretObjects[*].select[*]'),
  },
);

const LabelsSchema = StringMap({ maxProperties: LIMITS.labels, maxValueLength: 63, description: 'Labels to put on the output.' });
const AnnotationsSchema = StringMap({ maxProperties: LIMITS.labels, maxValueLength: LIMITS.labelValueLength, description: 'Annotations to put on the output.' });
const CreationPolicySchema = StringEnum(CREATION_POLICIES, {
  description: 'Owner: kvsync creates and owns the output (garbage-collected with the KeyVaultSync, unless deletionPolicy is Retain). Merge: write into an existing object kvsync did not create, once its owner consents with the annotation kvsync.dev/merge-from: <this KeyVaultSync>. Orphan: create it (annotated kvsync.dev/owner-uid), but leave it when the KeyVaultSync is deleted.',
  default: 'Owner',
});

export const SecretObjectSchema = Type.Object(
  {
    secretName: ObjectName('Name of the Secret to write, in this namespace.'),
    type: Type.Optional(
      Type.String({
        description:
          'Secret type, written as given (e.g. Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson, kubernetes.io/basic-auth, kubernetes.io/ssh-auth, or a type of your own such as Istio\'s tls). kubernetes.io/service-account-token, bootstrap.kubernetes.io/token and helm.sh/release.v1 are refused.',
        default: 'Opaque',
        minLength: 1,
        maxLength: 253,
        pattern: SECRET_TYPE_PATTERN,
        'x-kubernetes-validations': celAt('spec.secretObjects[*].type'),
      }),
    ),
    labels: Type.Optional(LabelsSchema),
    annotations: Type.Optional(AnnotationsSchema),
    data: Type.Optional(Type.Array(DataEntrySchema, { minItems: 1, maxItems: LIMITS.dataEntries, description: 'Keys of the Secret, one object each. data, templates or both must be given.' })),
    templates: Type.Optional(
      Type.Array(SecretTemplateSchema, { minItems: 1, maxItems: TEMPLATE_LIMITS.perSecret, description: 'Keys of the Secret built from templates over this KeyVaultSync\'s objects.' }),
    ),
    select: Type.Optional(
      Type.Array(ObjectSelectorSchema, {
        minItems: 1,
        maxItems: SELECTION_LIMITS.selectorsPerSecret,
        description: 'Opaque Secrets only: keys for every Key Vault object a selector matches, found in the listing change detection already makes; objects appearing or disappearing change the Secret on the next refresh.',
      }),
    ),
    creationPolicy: Type.Optional(CreationPolicySchema),
    includeRoot: Type.Optional(Type.Boolean({ description: 'tls only: append the root CA to tls.crt (default false).' })),
    caCert: Type.Optional(Type.Boolean({ description: 'tls only: add ca.crt with the issuing chain (default false).' })),
    keyFormat: Type.Optional(
      StringEnum(KEY_FORMATS, { description: 'tls only: encoding of tls.key. pkcs8 (default); pkcs1 or sec1 select the traditional format of the key type (PKCS#1 for RSA, SEC1 for EC).' }),
    ),
  },
  { description: 'A Kubernetes Secret to keep in sync (CSI SecretProviderClass secretObjects shape).', 'x-kubernetes-validations': celAt('spec.secretObjects[*]') },
);

export const ConfigMapObjectSchema = Type.Object(
  {
    configMapName: ObjectName('Name of the ConfigMap to write, in this namespace.'),
    labels: Type.Optional(LabelsSchema),
    annotations: Type.Optional(AnnotationsSchema),
    data: Type.Array(DataEntrySchema, { minItems: 1, maxItems: LIMITS.dataEntries, description: 'Keys of the ConfigMap (public certificates, CA bundles, public keys).' }),
    creationPolicy: Type.Optional(CreationPolicySchema),
  },
  { description: 'A ConfigMap for non-secret outputs.', 'x-kubernetes-validations': celAt('spec.configMapObjects[*]') },
);

export const RestartTargetSchema = Type.Object(
  {
    kind: StringEnum(RESTART_KINDS, { description: 'Kind of workload to roll.' }),
    name: Type.Optional(ObjectName('Name of the workload in this namespace.')),
    selector: Type.Optional(LabelSelector('Selects workloads of this kind in this namespace by label.')),
  },
  { description: 'A workload rolled when synced data really changed (never on the first sync).', 'x-kubernetes-validations': celAt('spec.restartTargets[*]') },
);

export const KeyVaultSyncSpecSchema = Type.Object(
  {
    provider: Type.Optional(StringEnum(['azure'] as const, { description: 'Accepted for SecretProviderClass compatibility; only azure.' })),
    vault: Type.Optional(VaultSchema),
    identity: Type.Optional({ ...IdentitySchema, 'x-kubernetes-validations': celAt('spec.identity') }),
    objects: Type.Optional(
      Type.Array({ ...VaultObjectSchema, 'x-kubernetes-validations': celAt('spec.objects[*]') }, {
        maxItems: LIMITS.objects,
        description: 'Key Vault objects to fetch.',
        'x-kubernetes-validations': celAt('spec.objects'),
      }),
    ),
    secretObjects: Type.Optional(
      Type.Array(SecretObjectSchema, {
        maxItems: LIMITS.secretObjects,
        description: 'Secrets to write from the objects.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['secretName'],
      }),
    ),
    configMapObjects: Type.Optional(
      Type.Array(ConfigMapObjectSchema, {
        maxItems: LIMITS.configMapObjects,
        description: 'ConfigMaps to write with non-secret outputs.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['configMapName'],
      }),
    ),
    refreshInterval: Type.Optional(
      Type.String({
        description: 'How often to refresh, as a Go duration (e.g. 5m, 1h30m), with jitter; "0" fetches once. Minimum 10s.',
        maxLength: 32,
        pattern: GO_DURATION_PATTERN,
        default: '1h',
        'x-kubernetes-validations': celAt('spec.refreshInterval'),
      }),
    ),
    deletionPolicy: Type.Optional(
      StringEnum(DELETION_POLICIES, {
        description:
          'What becomes of the Secrets and ConfigMaps kvsync created (creationPolicy Owner) when the KeyVaultSync is deleted or an output leaves the spec. Delete (default): they are deleted. Retain: they stay, no longer updated (kvsync writes them without an owner reference). creationPolicy Orphan retains one output whatever this says; Merge outputs only lose the keys kvsync wrote.',
        default: 'Delete',
      }),
    ),
    restartTargets: Type.Optional(Type.Array(RestartTargetSchema, { maxItems: LIMITS.restartTargets, description: 'Workloads to roll when data changes.' })),
    parameters: Type.Optional(
      StringMap({
        maxProperties: LIMITS.parameters,
        maxValueLength: LIMITS.parameterValueLength,
        description: 'The Azure CSI provider parameters of a SecretProviderClass, verbatim (keyvaultName, tenantID/tenantId, cloudName, usePodIdentity, useVMManagedIdentity, userAssignedIdentityID, clientID, objects). Typed fields win where both are given; a conflict is an error.',
      }),
    ),
  },
  { description: 'What to sync from which vault, with which identity, into which Secrets.', 'x-kubernetes-validations': celAt('spec') },
);

export const SyncedObjectStatusSchema = Type.Object(
  {
    name: Type.String({ description: 'Output name of the object.', maxLength: 127 }),
    version: Type.Optional(Type.String({ description: 'Version that was synced.', maxLength: 64 })),
    contentType: Type.Optional(Type.String({ description: 'Content type of the value (e.g. application/x-pkcs12).', maxLength: 256 })),
    expiresAt: Type.Optional(Type.String({ description: 'Expiry of the object or of the certificate leaf.', format: 'date-time' })),
    updated: Type.Optional(Type.String({ description: 'When the version was last updated in the vault.', format: 'date-time' })),
  },
  { description: 'What was synced for one object.' },
);

export const KeyVaultSyncStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ description: 'The .metadata.generation this status describes.', minimum: 0, format: 'int64' })),
    conditions: Type.Optional(
      Type.Array(Condition(), {
        maxItems: 16,
        description: 'Ready and Synced, with reasons such as VaultAccessDenied, ObjectNotFound, InvalidSpec.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    lastSyncTime: Type.Optional(Type.String({ description: 'When a successful sync last wrote the status: at once when anything in it changed, else at least every 2 hours (freshness is the kvsync_last_sync_timestamp_seconds metric).', format: 'date-time' })),
    objects: Type.Optional(Type.Array(SyncedObjectStatusSchema, { maxItems: 256, description: 'Per-object sync state.' })),
    configMaps: Type.Optional(
      Type.Array(Type.Object({ name: Type.String({ description: 'ConfigMap name.', maxLength: 253 }) }), {
        maxItems: LIMITS.configMapObjects,
        description: 'ConfigMaps written by the last successful sync (an output that leaves the spec is pruned from this list).',
      }),
    ),
    secrets: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ description: 'Secret name.', maxLength: 253 }),
          dataMAC: Type.Optional(Type.String({ description: 'Keyed MAC of the Secret data, for drift detection (never a plain hash).', maxLength: 128 })),
        }),
        { maxItems: LIMITS.secretObjects, description: 'Per-Secret state.' },
      ),
    ),
  },
  { description: 'Observed state, written by the controller.' },
);

export type KeyVaultSyncSpec = Static<typeof KeyVaultSyncSpecSchema>;
export type KeyVaultSyncStatus = Static<typeof KeyVaultSyncStatusSchema>;
export type VaultObject = Static<typeof VaultObjectSchema>;
export type SecretObject = Static<typeof SecretObjectSchema>;
export type SecretTemplate = Static<typeof SecretTemplateSchema>;
export type ObjectSelector = Static<typeof ObjectSelectorSchema>;
export type SelectorType = (typeof SELECTOR_TYPES)[number];
export type ConfigMapObject = Static<typeof ConfigMapObjectSchema>;
export type RestartTarget = Static<typeof RestartTargetSchema>;
export type ObjectType = (typeof OBJECT_TYPES)[number];
export type CreationPolicy = (typeof CREATION_POLICIES)[number];
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];
export type KeyFormat = (typeof KEY_FORMATS)[number];
export type ObjectEncoding = (typeof OBJECT_ENCODINGS)[number];
export type ObjectFormat = (typeof OBJECT_FORMATS)[number];
export type SplitFormat = (typeof SPLIT_FORMATS)[number];

/**
 * Builds the CustomResourceDefinitions from the TypeBox schemas. TypeBox output is turned into
 * the structural OpenAPI v3 subset the apiserver accepts: literal unions become `enum`, records
 * become `additionalProperties`, and empty rule lists are dropped.
 */
import { ClusterKeyVaultSyncSpecSchema, ClusterKeyVaultSyncStatusSchema } from './clusterkeyvaultsync-schema.ts';
import { KeyVaultIdentitySpecSchema } from './keyvaultidentity-schema.ts';
import { KeyVaultSyncSpecSchema, KeyVaultSyncStatusSchema } from './keyvaultsync-schema.ts';

export const GROUP = 'kvsync.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Converts one TypeBox schema (after a JSON round trip, so without TypeBox's symbols) to structural form. */
export function toStructural(node: Json): Json {
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  const anyOf = node.anyOf;
  // A union of string literals is an enum; a union of one literal is emitted by TypeBox as `const`.
  const enumValues =
    typeof node.const === 'string'
      ? [node.const]
      : Array.isArray(anyOf) && anyOf.every((a) => isObject(a) && typeof a.const === 'string')
        ? anyOf.map((a) => (a as JsonObject).const as string)
        : undefined;
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'anyOf' || key === 'const') && enumValues !== undefined) continue;
    if (key === 'x-kubernetes-validations' && Array.isArray(value) && value.length === 0) continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toStructural(v)]));
    } else if (key === 'patternProperties' && isObject(value)) {
      const [only] = Object.values(value);
      if (only !== undefined) out.additionalProperties = toStructural(only);
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toStructural(value);
    } else {
      out[key] = value;
    }
  }
  if (enumValues !== undefined) {
    out.type = 'string';
    out.enum = enumValues;
  }
  return out;
}

function schemaJson(schema: unknown): Json {
  return toStructural(JSON.parse(JSON.stringify(schema)) as Json);
}

/** A column `kubectl get` prints. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description?: string;
  /** 1: shown only with `-o wide`. */
  priority?: number;
}

/** What tells one kvsync CRD from another; `crd()` adds the rest. */
interface CrdParts {
  names: { kind: string; plural: string; singular: string; shortNames: string[] };
  scope: 'Namespaced' | 'Cluster';
  /** Printed before Age, which every kind shows last. */
  columns: PrinterColumn[];
  schema: {
    description: string;
    spec: unknown;
    /** A kind with a status gets the status subresource, so its writers cannot change the spec. */
    status?: unknown;
  };
}

const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function rootSchema({ description, spec, status }: CrdParts['schema']): JsonObject {
  const properties: JsonObject = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: { type: 'object' },
    spec: schemaJson(spec),
  };
  if (status !== undefined) properties.status = schemaJson(status);
  return { type: 'object', description, properties, required: ['spec'] };
}

/** One CustomResourceDefinition of the kvsync.dev group, served and stored at VERSION only. */
function crd({ names, scope, columns, schema }: CrdParts): JsonObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope,
      names: { kind: names.kind, listKind: `${names.kind}List`, plural: names.plural, singular: names.singular, shortNames: names.shortNames, categories: ['kvsync'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(schema.status === undefined ? {} : { subresources: { status: {} } }),
          // Copies: the shared column constants must not change when a caller edits a CRD it got.
          additionalPrinterColumns: [...columns, AGE_COLUMN].map((c) => ({ ...c })),
          schema: { openAPIV3Schema: rootSchema(schema) },
        },
      ],
    },
  };
}

const VAULT_COLUMN: PrinterColumn = { name: 'Vault', type: 'string', jsonPath: '.spec.vault.name', description: 'Key Vault name.' };
const READY_REASON_COLUMN: PrinterColumn = { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1, description: 'Why it is (not) ready.' };

function readyColumn(description: string): PrinterColumn {
  return { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description };
}

function deletionColumn(description: string): PrinterColumn {
  return { name: 'Deletion', type: 'string', jsonPath: '.spec.deletionPolicy', priority: 1, description };
}

/** The KeyVaultSync CRD. */
export function keyVaultSyncCrd(): JsonObject {
  return crd({
    names: { kind: 'KeyVaultSync', plural: 'keyvaultsyncs', singular: 'keyvaultsync', shortNames: ['kvs'] },
    scope: 'Namespaced',
    columns: [
      VAULT_COLUMN,
      readyColumn('Whether the last sync succeeded.'),
      READY_REASON_COLUMN,
      { name: 'Last Sync', type: 'date', jsonPath: '.status.lastSyncTime', description: 'When a successful sync last wrote the status (at least every 2 hours).' },
      deletionColumn('Delete or Retain: what becomes of the outputs when the KeyVaultSync is deleted.'),
    ],
    schema: {
      description: 'KeyVaultSync keeps Kubernetes Secrets (and ConfigMaps) in sync with Azure Key Vault objects.',
      spec: KeyVaultSyncSpecSchema,
      status: KeyVaultSyncStatusSchema,
    },
  });
}

/** The KeyVaultIdentity CRD: no status (the controller only reads it). */
export function keyVaultIdentityCrd(): JsonObject {
  return crd({
    names: { kind: 'KeyVaultIdentity', plural: 'keyvaultidentities', singular: 'keyvaultidentity', shortNames: ['kvid'] },
    scope: 'Cluster',
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Client ID', type: 'string', jsonPath: '.spec.clientID' },
    ],
    schema: {
      description: 'KeyVaultIdentity names a shared pod or managed identity and which namespaces and vaults may use it.',
      spec: KeyVaultIdentitySpecSchema,
    },
  });
}

/** The ClusterKeyVaultSync CRD: cluster-scoped, for cluster admins only (tenants get no RBAC on it). */
export function clusterKeyVaultSyncCrd(): JsonObject {
  return crd({
    names: { kind: 'ClusterKeyVaultSync', plural: 'clusterkeyvaultsyncs', singular: 'clusterkeyvaultsync', shortNames: ['ckvs'] },
    scope: 'Cluster',
    columns: [
      VAULT_COLUMN,
      readyColumn('Whether every selected namespace synced.'),
      { name: 'Matched', type: 'integer', jsonPath: '.status.matchedNamespaces', description: 'Namespaces the namespaceSelector selects.' },
      { name: 'Synced', type: 'integer', jsonPath: '.status.syncedNamespaces', description: 'Selected namespaces whose Secrets are current.' },
      READY_REASON_COLUMN,
      deletionColumn('Delete or Retain: what becomes of the Secrets when the resource is deleted or a namespace stops matching.'),
    ],
    schema: {
      description: 'ClusterKeyVaultSync syncs the same Azure Key Vault objects into Secrets of every namespace its namespaceSelector selects, reading each object once.',
      spec: ClusterKeyVaultSyncSpecSchema,
      status: ClusterKeyVaultSyncStatusSchema,
    },
  });
}

/** File name (under crds/) → CRD object. */
export function allCrds(): Record<string, JsonObject> {
  return {
    'kvsync.dev_keyvaultsyncs.yaml': keyVaultSyncCrd(),
    'kvsync.dev_keyvaultidentities.yaml': keyVaultIdentityCrd(),
    'kvsync.dev_clusterkeyvaultsyncs.yaml': clusterKeyVaultSyncCrd(),
  };
}

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

function rootSchema(description: string, spec: Json, status?: Json): JsonObject {
  const properties: JsonObject = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: { type: 'object' },
    spec,
  };
  if (status !== undefined) properties.status = status;
  return { type: 'object', description, properties, required: ['spec'] };
}

/** The KeyVaultSync CRD. */
export function keyVaultSyncCrd(): JsonObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `keyvaultsyncs.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: 'KeyVaultSync', listKind: 'KeyVaultSyncList', plural: 'keyvaultsyncs', singular: 'keyvaultsync', shortNames: ['kvs'], categories: ['kvsync'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Vault', type: 'string', jsonPath: '.spec.vault.name', description: 'Key Vault name.' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether the last sync succeeded.' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1, description: 'Why it is (not) ready.' },
            { name: 'Last Sync', type: 'date', jsonPath: '.status.lastSyncTime', description: 'When a successful sync last wrote the status (at least every 2 hours).' },
            { name: 'Deletion', type: 'string', jsonPath: '.spec.deletionPolicy', priority: 1, description: 'Delete or Retain: what becomes of the outputs when the KeyVaultSync is deleted.' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: rootSchema(
              'KeyVaultSync keeps Kubernetes Secrets (and ConfigMaps) in sync with Azure Key Vault objects.',
              schemaJson(KeyVaultSyncSpecSchema),
              schemaJson(KeyVaultSyncStatusSchema),
            ),
          },
        },
      ],
    },
  };
}

/** The KeyVaultIdentity CRD. */
export function keyVaultIdentityCrd(): JsonObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `keyvaultidentities.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: 'KeyVaultIdentity', listKind: 'KeyVaultIdentityList', plural: 'keyvaultidentities', singular: 'keyvaultidentity', shortNames: ['kvid'], categories: ['kvsync'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: 'Type', type: 'string', jsonPath: '.spec.type' },
            { name: 'Client ID', type: 'string', jsonPath: '.spec.clientID' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: rootSchema('KeyVaultIdentity names a shared pod or managed identity and which namespaces and vaults may use it.', schemaJson(KeyVaultIdentitySpecSchema)),
          },
        },
      ],
    },
  };
}

/** The ClusterKeyVaultSync CRD: cluster-scoped, for cluster admins only (tenants get no RBAC on it). */
export function clusterKeyVaultSyncCrd(): JsonObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `clusterkeyvaultsyncs.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: 'ClusterKeyVaultSync', listKind: 'ClusterKeyVaultSyncList', plural: 'clusterkeyvaultsyncs', singular: 'clusterkeyvaultsync', shortNames: ['ckvs'], categories: ['kvsync'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Vault', type: 'string', jsonPath: '.spec.vault.name', description: 'Key Vault name.' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether every selected namespace synced.' },
            { name: 'Matched', type: 'integer', jsonPath: '.status.matchedNamespaces', description: 'Namespaces the namespaceSelector selects.' },
            { name: 'Synced', type: 'integer', jsonPath: '.status.syncedNamespaces', description: 'Selected namespaces whose Secrets are current.' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1, description: 'Why it is (not) ready.' },
            { name: 'Deletion', type: 'string', jsonPath: '.spec.deletionPolicy', priority: 1, description: 'Delete or Retain: what becomes of the Secrets when the resource is deleted or a namespace stops matching.' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: rootSchema(
              'ClusterKeyVaultSync syncs the same Azure Key Vault objects into Secrets of every namespace its namespaceSelector selects, reading each object once.',
              schemaJson(ClusterKeyVaultSyncSpecSchema),
              schemaJson(ClusterKeyVaultSyncStatusSchema),
            ),
          },
        },
      ],
    },
  };
}

/** File name (under crds/) → CRD object. */
export function allCrds(): Record<string, JsonObject> {
  return {
    'kvsync.dev_keyvaultsyncs.yaml': keyVaultSyncCrd(),
    'kvsync.dev_keyvaultidentities.yaml': keyVaultIdentityCrd(),
    'kvsync.dev_clusterkeyvaultsyncs.yaml': clusterKeyVaultSyncCrd(),
  };
}

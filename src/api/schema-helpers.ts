/**
 * Small TypeBox builders for the shapes Kubernetes schemas use. The schemas written with them are
 * the one source of truth: TypeScript types come from `Static<>`, the TypeScript validator runs them
 * with TypeBox's `Value`, and `crd.ts` turns them into structural OpenAPI v3 for the CRDs.
 */
import { Type } from '@sinclair/typebox';
import type { SchemaOptions, TSchema, TUnsafe } from '@sinclair/typebox';
import { DATA_KEY_PATTERN, MAX_DATA_KEY_LENGTH } from './kube-names.ts';
import { GUID_PATTERN, TENANT_MAX_LENGTH, TENANT_PATTERN } from './azure-ids.ts';

/** A CEL rule as it appears in `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message: string;
  /** CEL expression for the message, run only when the rule fails; `message` stays the fallback. */
  messageExpression?: string;
  /** Field path (relative to the node the rule is on) the apiserver reports the error under. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/**
 * A string restricted to `values`. TypeBox validates it as a union of literals; `crd.ts` emits it as
 * `type: string` + `enum` (CRDs have no `const`).
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  const union = Type.Union(values.map((v) => Type.Literal(v)), options);
  // Keeps the union's own Kind (Union, or Literal for one value) so TypeBox's Value functions work.
  return Type.Unsafe<T[number]>({ ...union });
}

/** `schema` with another description (TypeBox's own options on it, optional or not, are kept). */
export function withDescription<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description };
}

/** `map[string]string` with a bound on its size (CEL cost estimation needs one). */
export function StringMap(options: SchemaOptions & { maxProperties: number; maxValueLength?: number }) {
  const { maxValueLength, ...rest } = options;
  return Type.Record(Type.String(), Type.String(maxValueLength === undefined ? {} : { maxLength: maxValueLength }), rest);
}

/** A DNS-1123 subdomain: the name of most Kubernetes objects. */
export function ObjectName(description: string, options: SchemaOptions = {}) {
  return Type.String({
    description,
    minLength: 1,
    maxLength: 253,
    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    ...options,
  });
}

/** A GUID such as an Entra client ID. */
export function Guid(description: string) {
  return Type.String({ description, maxLength: 36, pattern: GUID_PATTERN });
}

/** An Entra tenant: a GUID or a verified domain name (the Azure SDK accepts both). */
export function TenantId(description: string) {
  return Type.String({ description, minLength: 1, maxLength: TENANT_MAX_LENGTH, pattern: TENANT_PATTERN });
}

/** A key of a Secret's or ConfigMap's `data` (not "." or "..": the apiserver refuses those). */
export function DataKey(description: string, options: SchemaOptions = {}) {
  return Type.String({ description, minLength: 1, maxLength: MAX_DATA_KEY_LENGTH, pattern: DATA_KEY_PATTERN, ...options });
}

/** metav1.LabelSelector, bounded. */
export function LabelSelector(description: string) {
  return Type.Object(
    {
      matchLabels: Type.Optional(StringMap({ maxProperties: 32, maxValueLength: 63, description: 'Labels that must all match exactly.' })),
      matchExpressions: Type.Optional(
        Type.Array(
          Type.Object({
            key: Type.String({ description: 'The label key the requirement applies to.', maxLength: 317 }),
            operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, { description: 'How the key relates to the values.' }),
            values: Type.Optional(
              Type.Array(Type.String({ maxLength: 63 }), { maxItems: 32, description: 'Values for In and NotIn; empty for Exists and DoesNotExist.' }),
            ),
          }),
          { maxItems: 16, description: 'Label requirements, all of which must hold.' },
        ),
      ),
    },
    { description, 'x-kubernetes-map-type': 'atomic' },
  );
}

/** metav1.Condition, as every Kubernetes status uses it. */
export function Condition() {
  return Type.Object(
    {
      type: Type.String({ description: 'Condition type, e.g. Ready or Synced.', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
      status: StringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition.' }),
      observedGeneration: Type.Optional(Type.Integer({ description: 'The .metadata.generation the condition was set for.', minimum: 0, format: 'int64' })),
      lastTransitionTime: Type.String({ description: 'When the condition last changed status.', format: 'date-time' }),
      reason: Type.String({ description: 'Programmatic, CamelCase reason for the last transition.', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
      message: Type.String({ description: 'Human-readable details; never contains a secret value.', maxLength: 32768 }),
    },
    { description: 'A standard Kubernetes condition (metav1.Condition).' },
  );
}

export type { TSchema };

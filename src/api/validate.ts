/**
 * Schema validation in TypeScript with the same schemas the CRDs are generated from: defaults as the
 * apiserver applies them, structural errors with field paths, and unknown fields (which the
 * apiserver would prune and `kubectl apply` rejects as "unknown field").
 */
import { Kind } from '@sinclair/typebox';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { pointerToPath } from './errors.ts';
import type { SpecIssue } from './errors.ts';

/** Returns a deep copy of `value` with schema defaults applied (only where the parent exists). */
export function withDefaults<T>(schema: TSchema, value: T): T {
  return Value.Default(schema, structuredClone(value)) as T;
}

function describeError(schema: TSchema, fallback: string): string {
  const anyOf = (schema as { anyOf?: unknown }).anyOf;
  if (Array.isArray(anyOf) && anyOf.every((a) => typeof (a as { const?: unknown }).const === 'string')) {
    return `must be one of: ${anyOf.map((a) => (a as { const: string }).const).join(', ')}`;
  }
  const c = (schema as { const?: unknown }).const;
  if (typeof c === 'string') return `must be "${c}"`;
  return fallback.replace(/^Expected/, 'expected');
}

/** Structural problems of `value` against `schema`, one per field path, paths under `root`. */
export function schemaIssues(schema: TSchema, value: unknown, root: string): SpecIssue[] {
  const byPath = new Map<string, string>();
  for (const e of Value.Errors(schema, value)) {
    const path = pointerToPath(e.path, root);
    if (!byPath.has(path)) byPath.set(path, describeError(e.schema, e.message));
  }
  const issues = [...byPath].map(([path, message]) => ({ path, message }));
  return [...issues, ...unknownFields(schema, value, root)];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fields present in `value` that `schema` does not declare. */
export function unknownFields(schema: TSchema, value: unknown, path: string): SpecIssue[] {
  const s = schema as TSchema & { properties?: Record<string, TSchema>; items?: TSchema; patternProperties?: Record<string, TSchema> };
  if (s[Kind] === 'Object' && s.properties !== undefined && isRecord(value)) {
    const props = s.properties;
    return Object.entries(value).flatMap(([k, v]) => {
      const child = props[k];
      return child === undefined ? [{ path: `${path}.${k}`, message: 'unknown field' }] : unknownFields(child, v, `${path}.${k}`);
    });
  }
  if (s[Kind] === 'Array' && s.items !== undefined && Array.isArray(value)) {
    const items = s.items;
    return value.flatMap((v, i) => unknownFields(items, v, `${path}[${i}]`));
  }
  return [];
}


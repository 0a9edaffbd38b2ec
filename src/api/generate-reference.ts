/**
 * Writes docs/reference.md from the CRDs (`allCrds()`, the same objects crds/*.yaml is written from):
 * `node src/api/generate-reference.ts [--check] [--out FILE]` (`npm run gen:docs`). Every field of
 * KeyVaultSync and KeyVaultIdentity, status included, with its type, whether it is required, default,
 * limits, enum values and description, and every CEL rule with its message in plain words. With
 * --check it writes nothing and exits 1 when the file differs from what it would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allCrds } from './crd.ts';
import type { PrinterColumn } from './crd.ts';
import { namingCulprit } from './cel-rules.ts';

export const DEFAULT_REFERENCE_FILE = resolve(fileURLToPath(new URL('../../docs/reference.md', import.meta.url)));

/** One node of a structural OpenAPI v3 schema, as the CRDs carry it. */
interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode;
  required?: string[];
  enum?: string[];
  default?: unknown;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  format?: string;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  'x-kubernetes-validations'?: { rule: string; message: string; messageExpression?: string }[];
}

interface CrdView {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    versions: { name: string; subresources?: Record<string, unknown>; additionalPrinterColumns?: PrinterColumn[]; schema: { openAPIV3Schema: SchemaNode } }[];
  };
}

/** An object node that gets its own section: its field path and the node. */
interface Section {
  path: string;
  node: SchemaNode;
}

/** A CEL rule with the field path of the node it is attached to. */
interface LocatedRule {
  path: string;
  rule: string;
  message: string;
}

/** Text for a Markdown table cell: no line breaks, `|` escaped, `<` not taken for HTML. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Inline code safe inside a table cell (GFM allows `\|` inside code spans in tables). */
function code(text: string): string {
  const body = text.replace(/\|/g, '\\|');
  return body.includes('`') ? `\`\` ${body} \`\`` : `\`${body}\``;
}

function anchorOf(kind: string, path: string): string {
  if (path === '') return `${kind.toLowerCase()}-top-level`;
  return `${kind}-${path}`.toLowerCase().replace(/\[\]/g, '-items').replace(/\{\}/g, '-values').replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '');
}

function isObjectWithFields(node: SchemaNode): boolean {
  return node.type === 'object' && node.properties !== undefined && Object.keys(node.properties).length > 0;
}

/** Object nodes with fields, depth first, in schema order; arrays contribute `path[]`. */
function collectSections(node: SchemaNode, path: string, out: Section[]): Section[] {
  if (isObjectWithFields(node)) {
    out.push({ path, node });
    for (const [name, child] of Object.entries(node.properties ?? {})) collectSections(child, path === '' ? name : `${path}.${name}`, out);
  } else if (node.type === 'array' && node.items !== undefined) {
    collectSections(node.items, `${path}[]`, out);
  } else if (node.type === 'object' && node.additionalProperties !== undefined) {
    collectSections(node.additionalProperties, `${path}{}`, out);
  }
  return out;
}

/** Every CEL rule under `node`, with the path of the node that carries it. */
function collectRules(node: SchemaNode, path: string, out: LocatedRule[]): LocatedRule[] {
  for (const v of node['x-kubernetes-validations'] ?? []) {
    // A messageExpression adds the offending name to the message (cel-rules.ts builds them that way).
    const message = v.messageExpression === undefined ? v.message : namingCulprit(v.message, '<name>');
    out.push({ path: path === '' ? '(root)' : path, rule: v.rule, message });
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) collectRules(child, path === '' ? name : `${path}.${name}`, out);
  if (node.items !== undefined) collectRules(node.items, `${path}[]`, out);
  if (node.additionalProperties !== undefined) collectRules(node.additionalProperties, `${path}{}`, out);
  return out;
}

/** `string`, `integer`, `[]object` (linked), `map[string]string`, … */
function typeOf(kind: string, node: SchemaNode, path: string): string {
  if (node.type === 'array' && node.items !== undefined) {
    const item = node.items;
    return isObjectWithFields(item) ? `[][object](#${anchorOf(kind, `${path}[]`)})` : `[]${typeOf(kind, item, `${path}[]`)}`;
  }
  if (node.type === 'object' && node.additionalProperties !== undefined) return `map[string]${node.additionalProperties.type ?? 'any'}`;
  if (isObjectWithFields(node)) return `[object](#${anchorOf(kind, path)})`;
  if (path.endsWith('metadata') && node.type === 'object') return 'object (ObjectMeta)';
  return node.type ?? 'any';
}

function range(min: number | undefined, max: number | undefined, unit: string): string | undefined {
  if (min === undefined && max === undefined) return undefined;
  if (min !== undefined && max !== undefined) return min === max ? `${unit} ${min}` : `${unit} ${min}–${max}`;
  return min !== undefined ? `${unit} ≥ ${min}` : `${unit} ≤ ${max}`;
}

/** The limits of a scalar (or of each item / map value), in words. */
function scalarLimits(node: SchemaNode): string[] {
  const out: string[] = [];
  if (node.enum !== undefined) out.push(`one of ${node.enum.map(code).join(', ')}`);
  const length = range(node.minLength, node.maxLength, 'length');
  if (length !== undefined) out.push(length);
  const value = range(node.minimum, node.maximum, 'value');
  if (value !== undefined) out.push(value);
  if (node.format !== undefined) out.push(`format ${code(node.format)}`);
  if (node.pattern !== undefined) out.push(`pattern ${code(node.pattern)}`);
  return out;
}

/** `[R3](#keyvaultsync-r3)`: a link to rule n of the kind's rule table. */
function ruleLink(kind: string, n: number): string {
  return `[R${n}](#${kind.toLowerCase()}-r${n})`;
}

function limitsOf(kind: string, node: SchemaNode, ruleNumbers: number[]): string {
  const out: string[] = [...scalarLimits(node)];
  if (node.minItems !== undefined || node.maxItems !== undefined) {
    const { minItems: min, maxItems: max } = node;
    out.push(min !== undefined && max !== undefined ? `${min}–${max} items` : min !== undefined ? `at least ${min} items` : `at most ${max} items`);
  }
  if (node.maxProperties !== undefined) out.push(`at most ${node.maxProperties} entries`);
  const listType = node['x-kubernetes-list-type'];
  if (listType === 'map') out.push(`list keyed by ${(node['x-kubernetes-list-map-keys'] ?? []).map(code).join(', ')} (unique)`);
  if (listType === 'set') out.push('items unique');
  if (node['x-kubernetes-map-type'] === 'atomic') out.push('replaced as a whole on apply');
  if (node.items !== undefined && !isObjectWithFields(node.items)) {
    const each = scalarLimits(node.items);
    if (each.length > 0) out.push(`each: ${each.join(', ')}`);
  }
  if (node.additionalProperties !== undefined) {
    const each = scalarLimits(node.additionalProperties);
    if (each.length > 0) out.push(`each value: ${each.join(', ')}`);
  }
  for (const n of ruleNumbers) out.push(`rule ${ruleLink(kind, n)}`);
  return out.join('; ');
}

function defaultOf(node: SchemaNode): string {
  return node.default === undefined ? '' : code(typeof node.default === 'string' ? node.default : JSON.stringify(node.default));
}

function renderSection(kind: string, section: Section, rules: readonly LocatedRule[]): string[] {
  const { node, path } = section;
  const lines: string[] = [`<a id="${anchorOf(kind, path)}"></a>`, '', `### ${path === '' ? `${kind}: top-level fields` : code(path)}`, ''];
  // The kind's description is already under its heading.
  if (node.description !== undefined && path !== '') lines.push(cell(node.description), '');
  const own = rules.flatMap((r, i) => (r.path === (path === '' ? '(root)' : path) ? [i + 1] : []));
  if (own.length > 0) lines.push(`Rules: ${own.map((n) => `${ruleLink(kind, n)} ${cell(rules[n - 1]?.message ?? '')}`).join('; ')}.`, '');
  lines.push('| field | type | required | default | limits | description |', '| --- | --- | --- | --- | --- | --- |');
  const required = new Set(node.required ?? []);
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const childPath = path === '' ? name : `${path}.${name}`;
    const ruleNumbers = rules.flatMap((r, i) => (r.path === childPath && !isObjectWithFields(child) ? [i + 1] : []));
    const description = child.description ?? (child.items?.description !== undefined ? `Each item: ${child.items.description}` : '');
    lines.push(`| ${code(name)} | ${typeOf(kind, child, childPath)} | ${required.has(name) ? 'yes' : ''} | ${defaultOf(child)} | ${limitsOf(kind, child, ruleNumbers)} | ${cell(description)} |`);
  }
  lines.push('');
  return lines;
}

function renderKind(crd: CrdView): string[] {
  const { spec } = crd;
  const version = spec.versions[0];
  if (version === undefined) throw new Error(`CRD ${spec.names.kind} has no version`);
  const kind = spec.names.kind;
  const root = version.schema.openAPIV3Schema;
  const lines: string[] = [`## ${kind}`, ''];
  if (root.description !== undefined) lines.push(cell(root.description), '');
  lines.push(
    '| | |',
    '| --- | --- |',
    `| apiVersion | ${code(`${spec.group}/${version.name}`)} |`,
    `| scope | ${spec.scope} |`,
    `| plural / singular | ${code(spec.names.plural)} / ${code(spec.names.singular)} |`,
    `| short names | ${(spec.names.shortNames ?? []).map(code).join(', ')} |`,
    `| categories | ${(spec.names.categories ?? []).map(code).join(', ')} |`,
    `| subresources | ${Object.keys(version.subresources ?? {}).map(code).join(', ') || 'none'} |`,
    '',
  );
  const columns = version.additionalPrinterColumns ?? [];
  if (columns.length > 0) {
    lines.push('`kubectl get` columns (priority 1 only with `-o wide`):', '', '| column | type | JSONPath | priority | description |', '| --- | --- | --- | --- | --- |');
    for (const c of columns) lines.push(`| ${c.name} | ${c.type} | ${code(c.jsonPath)} | ${c.priority ?? 0} | ${cell(c.description ?? '')} |`);
    lines.push('');
  }
  const rules = collectRules(root, '', []);
  for (const section of collectSections(root, '', [])) lines.push(...renderSection(kind, section, rules));
  lines.push(`### ${kind} validation rules`, '');
  if (rules.length === 0) {
    lines.push('None beyond the field limits above.', '');
    return lines;
  }
  lines.push(
    'The apiserver evaluates these CEL rules on create and update and refuses the object with the message; `kvsync` checks the',
    'same rules with the same messages (src/api/rules.ts), so `kvsync render` and the controller report them as `InvalidSpec`.',
    '',
    '| rule | on | in plain words (the error message) | CEL |',
    '| --- | --- | --- | --- |',
  );
  rules.forEach((r, i) => lines.push(`| <a id="${kind.toLowerCase()}-r${i + 1}"></a>R${i + 1} | ${code(r.path)} | ${cell(r.message)} | ${code(r.rule)} |`));
  lines.push('');
  return lines;
}

/** The full text of docs/reference.md. */
export function renderReference(): string {
  const crds = Object.entries(allCrds())
    .map(([file, crd]) => [file, crd as unknown as CrdView] as const)
    .sort(([, a], [, b]) => (a.spec.scope === b.spec.scope ? 0 : a.spec.scope === 'Namespaced' ? -1 : 1));
  const lines: string[] = [
    '<!-- Generated by src/api/generate-reference.ts from the CRD schemas (src/api/*-schema.ts, the source of crds/*.yaml). Do not edit by hand: run `npm run gen:docs`. -->',
    '',
    '# API reference',
    '',
    'Every field of the kvsync custom resources, generated from the same schemas as the CRDs in `crds/`, so it',
    'cannot drift from them (a unit test fails when this file is stale). For a guide with examples, the CSI',
    '`parameters` mapping and the checks kvsync makes beyond the CRD, see [api.md](api.md).',
    '',
    'Reading the tables: **limits** are enforced by the apiserver (length, value range, item counts, patterns,',
    'enum values); **R*n*** links to a CEL rule in the table at the end of each kind; `[]object` is a list of the',
    'linked object; `map[string]string` is a string-to-string map.',
    '',
    ...crds.map(([file, crd]) => `- [${crd.spec.names.kind}](#${crd.spec.names.kind.toLowerCase()}) — ${code(`crds/${file}`)}`),
    '',
  ];
  for (const [, crd] of crds) lines.push(...renderKind(crd));
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** True when `file` holds exactly what {@link renderReference} produces. */
export function referenceIsCurrent(file: string): boolean {
  try {
    return readFileSync(file, 'utf8') === renderReference();
  } catch {
    return false;
  }
}

export function run(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { check: { type: 'boolean', default: false }, out: { type: 'string', default: DEFAULT_REFERENCE_FILE } } });
  if (values.check) {
    if (referenceIsCurrent(values.out)) return 0;
    console.error(`${values.out} is out of date; run: npm run gen:docs`);
    return 1;
  }
  writeFileSync(values.out, renderReference());
  return 0;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}` || process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = run(process.argv.slice(2));
}

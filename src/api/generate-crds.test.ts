import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { allCrds } from './crd.ts';
import { DEFAULT_CRD_DIR, renderCrds, run, staleCrdFiles } from './generate-crds.ts';
import { KEY_VAULT_SYNC_RULES } from './rules.ts';

type Node = Record<string, unknown>;

/** Every schema node with its path. */
function* walk(node: Node, path: string): Generator<[string, Node]> {
  yield [path, node];
  for (const [k, v] of Object.entries((node.properties as Record<string, Node> | undefined) ?? {})) yield* walk(v, `${path}.${k}`);
  if (node.items !== undefined) yield* walk(node.items as Node, `${path}[]`);
  if (typeof node.additionalProperties === 'object') yield* walk(node.additionalProperties as Node, `${path}{}`);
}

function rootSchemas(): [string, Node][] {
  return Object.entries(allCrds()).map(([file, crd]) => {
    const versions = (crd.spec as { versions: { schema: { openAPIV3Schema: Node } }[] }).versions;
    return [file, versions[0]!.schema.openAPIV3Schema];
  });
}

describe('generated CRDs', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kvsync-crds-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('match the committed crds/*.yaml (run `node src/api/generate-crds.ts` after changing a schema)', () => {
    expect(staleCrdFiles(DEFAULT_CRD_DIR)).toEqual([]);
    for (const [file, text] of Object.entries(renderCrds())) expect(readFileSync(join(DEFAULT_CRD_DIR, file), 'utf8')).toBe(text);
  });

  it('--check fails on a stale directory and passes after generating', () => {
    expect(run(['--check', '--out', tmp])).toBe(1);
    expect(run(['--out', tmp])).toBe(0);
    expect(run(['--check', '--out', tmp])).toBe(0);
    expect(parse(readFileSync(join(tmp, 'kvsync.dev_keyvaultsyncs.yaml'), 'utf8'))).toEqual(allCrds()['kvsync.dev_keyvaultsyncs.yaml']);
  });

  it('are structural: every node typed, no anyOf/const/patternProperties, lists and maps bounded, descriptions on fields', () => {
    for (const [file, root] of rootSchemas()) {
      for (const [path, node] of walk(root, file)) {
        expect(node.type, `${path} has a type`).toBeTypeOf('string');
        for (const banned of ['anyOf', 'oneOf', 'const', 'patternProperties', '$id']) expect(node[banned], `${path}.${banned}`).toBeUndefined();
        if (node.type === 'array') expect(node.maxItems, `${path} maxItems`).toBeTypeOf('number');
        if (node.type === 'object' && node.additionalProperties !== undefined) expect(node.maxProperties, `${path} maxProperties`).toBeTypeOf('number');
        const envelope = path === `${file}.apiVersion` || path === `${file}.kind`;
        if (node.type === 'string' && !envelope && !path.includes('.status.') && node.format === undefined && node.enum === undefined) expect(node.maxLength, `${path} maxLength`).toBeTypeOf('number');
        const inSpec = path.includes('.spec.');
        const isMapValue = path.endsWith('{}') || path.endsWith('[]');
        if (inSpec && !isMapValue) expect(node.description, `${path} description`).toBeTypeOf('string');
      }
    }
  });

  it('carry every KeyVaultSync CEL rule', () => {
    const text = renderCrds()['kvsync.dev_keyvaultsyncs.yaml']!;
    const crd = parse(text) as Node;
    const all: string[] = [];
    for (const [, root] of rootSchemas().slice(0, 1)) for (const [, node] of walk(root, '')) for (const v of (node['x-kubernetes-validations'] as { rule: string }[] | undefined) ?? []) all.push(v.rule);
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(all.sort()).toEqual(KEY_VAULT_SYNC_RULES.map((r) => r.cel.rule).sort());
  });

  it('emit enums for literal unions', () => {
    const [, root] = rootSchemas()[0]!;
    const spec = (root.properties as Record<string, Node>).spec!;
    const objects = (spec.properties as Record<string, Node>).objects!;
    const type = ((objects.items as Node).properties as Record<string, Node>).type!;
    expect(type).toMatchObject({ type: 'string', enum: ['secret', 'certificate', 'cert', 'key'], default: 'secret' });
    expect((spec.properties as Record<string, Node>).provider).toMatchObject({ type: 'string', enum: ['azure'] });
  });
});

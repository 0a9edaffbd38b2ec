import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLUSTER_KEY_VAULT_SYNC_CEL } from './clusterkeyvaultsync-schema.ts';
import { allCrds } from './crd.ts';
import { DEFAULT_REFERENCE_FILE, renderReference, run } from './generate-reference.ts';
import { KEY_VAULT_IDENTITY_RULES, KEY_VAULT_SYNC_RULES } from './rules.ts';

type Node = { properties?: Record<string, Node>; items?: Node; additionalProperties?: Node; enum?: string[]; default?: unknown };

/** Every field (object property) of a schema, as `parent path` and name. */
function* fields(node: Node, path: string): Generator<{ parent: string; name: string; node: Node }> {
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    yield { parent: path, name, node: child };
    yield* fields(child, path === '' ? name : `${path}.${name}`);
  }
  if (node.items !== undefined) yield* fields(node.items, `${path}[]`);
  if (node.additionalProperties !== undefined) yield* fields(node.additionalProperties, `${path}{}`);
}

/** The Markdown of one section (from its heading to the next), by its field path. */
function section(doc: string, kind: string, path: string): string {
  const heading = path === '' ? `${kind}: top-level fields` : `\`${path}\``;
  // Only the kind's own part: two kinds may have sections of the same text (a shared schema).
  const kindStart = doc.indexOf(`## ${kind}\n`);
  const kindEnd = doc.indexOf('\n## ', kindStart + 1);
  const parts = doc.slice(kindStart, kindEnd === -1 ? undefined : kindEnd).split(/^### /m);
  const found = kindStart === -1 ? undefined : parts.find((p) => p.startsWith(`${heading}\n`));
  if (found === undefined) throw new Error(`no section ${heading} under ${kind}`);
  return found;
}

describe('docs/reference.md', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kvsync-reference-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('matches what the generator produces from the CRD schemas (run `npm run gen:docs` after changing a schema)', () => {
    expect(readFileSync(DEFAULT_REFERENCE_FILE, 'utf8')).toBe(renderReference());
  });

  it('--check fails on a stale file and passes after generating', () => {
    const file = join(tmp, 'reference.md');
    writeFileSync(file, '# stale\n');
    expect(run(['--check', '--out', file])).toBe(1);
    expect(run(['--out', file])).toBe(0);
    expect(run(['--check', '--out', file])).toBe(0);
  });

  it('lists every field of both kinds, status included, with its enum values and default', () => {
    const doc = renderReference();
    let count = 0;
    for (const crd of Object.values(allCrds())) {
      const spec = crd.spec as { names: { kind: string }; versions: { schema: { openAPIV3Schema: Node } }[] };
      const kind = spec.names.kind;
      for (const f of fields(spec.versions[0]!.schema.openAPIV3Schema, '')) {
        const text = section(doc, kind, f.parent);
        const row = text.split('\n').find((l) => l.startsWith(`| \`${f.name}\` |`));
        expect(row, `${kind} ${f.parent}.${f.name} has a row`).toBeDefined();
        for (const v of f.node.enum ?? []) expect(row, `${kind} ${f.parent}.${f.name} enum ${v}`).toContain(`\`${v}\``);
        if (f.node.default !== undefined) expect(row).toContain(`\`${typeof f.node.default === 'string' ? f.node.default : JSON.stringify(f.node.default)}\``);
        count++;
      }
    }
    expect(doc).toContain('`status.conditions[]`');
    expect(count).toBeGreaterThan(60);
  });

  it('states every CEL rule with its message', () => {
    const doc = renderReference();
    for (const r of [...KEY_VAULT_SYNC_RULES, ...KEY_VAULT_IDENTITY_RULES, ...CLUSTER_KEY_VAULT_SYNC_CEL]) {
      expect(doc).toContain(r.cel.message);
      expect(doc).toContain(r.cel.rule.replace(/\|/g, '\\|'));
    }
  });
});

/**
 * docs/migration.md covers every akv2k8s field in the migration corpus: each field path of an
 * AzureKeyVaultSecret spec, each value of the fields whose value changes the meaning (object type,
 * content type, Secret type, transforms), each API version, and two AzureKeyVaultSecrets writing one
 * Secret must be named, in backticks, in the page's akv2k8s section. A new corpus manifest with a
 * field the page does not explain fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCorpus, type Manifest } from '../../support/migration-corpus.ts';

const PAGE = join(import.meta.dirname, '..', '..', '..', 'docs', 'migration.md');
/** Fields whose value, not only presence, decides what akv2k8s wrote. */
const MEANINGFUL_VALUES = new Set(['vault.object.type', 'vault.object.contentType', 'output.secret.type', 'output.transform']);

/** The akv2k8s part of the page: from its heading to the end. */
function akv2k8sSection(): string {
  const page = readFileSync(PAGE, 'utf8');
  const start = page.indexOf('## From an akv2k8s AzureKeyVaultSecret');
  if (start < 0) throw new Error('docs/migration.md has no akv2k8s section');
  return page.slice(start);
}

/** `path` or `path: value` for every leaf of an AzureKeyVaultSecret spec. */
function fieldsOf(value: unknown, path: string, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) fieldsOf(item, path, out);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) fieldsOf(v, path === '' ? k : `${path}.${k}`, out);
  } else {
    out.add(MEANINGFUL_VALUES.has(path) ? `${path}: ${String(value)}` : path);
  }
}

/** Whether the page names a field: `vault.name` in a table row or text, in backticks, alone or in a list. */
function named(section: string, field: string): boolean {
  const [path, value] = field.split(': ');
  if (value === undefined) return section.includes(`\`${field}\``) || new RegExp(`\`${path?.replace(/\./g, '\\.')}[\`:,]`).test(section);
  return section.includes(`\`${field}\``) || section.includes(`\`${path}: ${value}\``);
}

describe('docs/migration.md and the akv2k8s corpus', () => {
  const corpus = loadCorpus('akv-');
  const section = akv2k8sSection();

  it('reads the 11 akv2k8s manifests (12 AzureKeyVaultSecrets)', () => {
    expect(new Set(corpus.map((c) => c.id.split('#')[0])).size).toBe(11);
    expect(corpus.every((c) => c.manifest.kind === 'AzureKeyVaultSecret')).toBe(true);
  });

  it('names every field, and every value that changes the meaning', () => {
    const fields = new Set<string>();
    for (const { manifest } of corpus) fieldsOf(manifest.spec, '', fields);
    // The corpus has what the page promises to cover.
    expect([...fields]).toEqual(expect.arrayContaining(['output.transform: base64decode', 'output.transform: trim', 'vault.object.type: key', 'vault.object.type: multi-key-value-secret']));
    expect([...fields].filter((f) => !named(section, f))).toEqual([]);
  });

  it('names every API version', () => {
    const versions = new Set(corpus.map((c) => String(c.manifest.apiVersion)));
    expect([...versions].filter((v) => !section.includes(`\`apiVersion: ${v}\``) && !section.includes(`\`${v}\``))).toEqual([]);
  });

  it('explains two AzureKeyVaultSecrets writing one Secret, which the corpus holds', () => {
    const outputs = corpus.flatMap(({ manifest }) => {
      const name = ((manifest.spec as Manifest).output as { secret?: { name?: string } } | undefined)?.secret?.name;
      return name === undefined ? [] : [`${String((manifest.metadata as Manifest).namespace)}/${name}`];
    });
    expect(outputs.length).toBeGreaterThan(new Set(outputs).size);
    expect(section).toContain('### Two AzureKeyVaultSecrets writing one Secret');
    expect(section).toContain('two AzureKeyVaultSecrets with one `output.secret.name`');
  });
});

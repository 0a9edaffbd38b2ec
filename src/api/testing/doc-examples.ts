/**
 * The YAML examples of docs/*.md marked as kvsync resources: fenced blocks opened with
 * "```yaml kvsync". Used by the unit test (parseKeyVaultSync) and the integration test (the real
 * apiserver, server-side dry run) so both check the same blocks.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const DOCS_DIR = resolve(fileURLToPath(new URL('../../../docs', import.meta.url)));

/** The docs pages whose kvsync blocks are checked. */
export const EXAMPLE_PAGES = ['migration.md', 'api.md'] as const;

export interface DocExample {
  /** `docs/<page>` */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  objects: Record<string, unknown>[];
}

/**
 * Every kvsync block of a Markdown text, parsed into its YAML documents.
 * @throws Error naming the file and line when a block is not valid YAML.
 */
export function kvsyncExamples(file: string, markdown: string): DocExample[] {
  const out: DocExample[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\s+kvsync\s*$/.test(lines[i] ?? '')) continue;
    const line = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    const objects = parseAllDocuments(body.join('\n')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}:${line}: YAML error: ${d.errors[0]?.message ?? ''}`);
      return d.toJS() as Record<string, unknown>;
    });
    out.push({ file, line, objects });
  }
  return out;
}

/** The kvsync blocks of one page under docs/. */
export function pageExamples(page: string): DocExample[] {
  return kvsyncExamples(`docs/${page}`, readFileSync(resolve(DOCS_DIR, page), 'utf8'));
}

/**
 * The migration corpus: real SecretProviderClass (`spc-*.yaml`) and akv2k8s AzureKeyVaultSecret
 * (`akv-*.yaml`) manifests from public repositories, docs and issue reports. It is kept beside the
 * checkout (`../shared/corpora/spc-corpus`) and read where it is, never copied into the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The corpus directory: beside the checkout, or beside the root of its worktree. */
export function corpusDir(): string {
  let dir = join(import.meta.dirname, '..', '..');
  for (let i = 0; i < 3; i++) {
    dir = dirname(dir);
    const candidate = join(dir, 'shared', 'corpora', 'spc-corpus');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('the migration corpus (../shared/corpora/spc-corpus) was not found beside the checkout');
}

export type Manifest = Record<string, unknown>;

export interface CorpusEntry {
  /** `<file>#<document index>`. */
  id: string;
  manifest: Manifest;
}

/** Every manifest of the files starting with `prefix`; a `kind: List` is read as its items. */
export function loadCorpus(prefix: 'spc-' | 'akv-'): CorpusEntry[] {
  const dir = corpusDir();
  const out: CorpusEntry[] = [];
  for (const file of readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.yaml')).sort()) {
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).forEach((doc, i) => {
      const obj = doc.toJS() as Manifest | null;
      if (obj === null) return;
      const items = obj.kind === 'List' ? (obj.items as Manifest[]) : [obj];
      items.forEach((item, j) => out.push({ id: `${file}#${i + j}`, manifest: item }));
    });
  }
  return out;
}

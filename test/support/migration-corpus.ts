/**
 * The migration corpus: real SecretProviderClass (`spc-*.yaml`) and akv2k8s AzureKeyVaultSecret
 * (`akv-*.yaml`) manifests from public repositories, docs and issue reports. It is kept beside the
 * checkout (`../shared/corpora/spc-corpus`) and read where it is, never copied into the repository.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { sharedCorpusDir } from './shared-corpora.ts';

/** The corpus directory: beside the checkout, or beside the root of its worktree. */
export function corpusDir(): string {
  return sharedCorpusDir('spc-corpus');
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

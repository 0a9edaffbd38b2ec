/**
 * The shared corpora of real-world material (`../shared/corpora/<name>` beside the checkout, or beside
 * the root of its worktree). Tests read them where they are; they are never copied into the repository.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The directory of the corpus `name`; throws naming where it was looked for. */
export function sharedCorpusDir(name: string): string {
  let dir = join(import.meta.dirname, '..', '..');
  for (let i = 0; i < 3; i++) {
    dir = dirname(dir);
    const candidate = join(dir, 'shared', 'corpora', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`the corpus ${name} (../shared/corpora/${name}) was not found beside the checkout`);
}

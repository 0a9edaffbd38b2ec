/**
 * The shared corpora of real-world material (`../shared/corpora/<name>` beside the checkout, or beside
 * the root of its worktree). Tests read them where they are; they are never copied into the repository.
 * A checkout elsewhere finds them through `KVSYNC_SHARED_CORPORA`, or where this machine kind keeps them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where this machine kind keeps the shared corpora when the checkout is not beside them. */
const MACHINE_CORPORA = '/work/shared/corpora';

/** The directory of the corpus `name`; throws naming where it was looked for. */
export function sharedCorpusDir(name: string): string {
  const candidates: string[] = [];
  let dir = join(import.meta.dirname, '..', '..');
  for (let i = 0; i < 3; i++) {
    dir = dirname(dir);
    candidates.push(join(dir, 'shared', 'corpora', name));
  }
  const fromEnv = process.env['KVSYNC_SHARED_CORPORA'];
  if (fromEnv !== undefined && fromEnv !== '') candidates.push(join(fromEnv, name));
  candidates.push(join(MACHINE_CORPORA, name));
  const found = candidates.find((c) => existsSync(c));
  if (found !== undefined) return found;
  throw new Error(`the corpus ${name} was not found; looked in ${candidates.join(', ')} (set KVSYNC_SHARED_CORPORA to the corpora directory)`);
}

/** The commit a measured run ran, for its results. */
import { execFileSync } from 'node:child_process';

/** HEAD of the checkout at `root`, with `+dirty` when tracked files had changes (figures then describe more than the commit). */
export function commitOf(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

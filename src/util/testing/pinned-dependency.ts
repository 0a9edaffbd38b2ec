/**
 * The version of a dependency that package.json pins and the one installed, for the unit tests that
 * guard patches of a dependency's internals: such a patch is checked against one exact version.
 */
import { readFileSync } from 'node:fs';

export function pinnedDependency(name: string): { pinned: string | undefined; installed: string } {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
  const installed = (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
  return { pinned: pkg.dependencies[name], installed };
}

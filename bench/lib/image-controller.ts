/**
 * kvsync as the container image runs it: the production build (scripts/build.ts) and the environment the
 * image gives its process (the final stage's `ENV` lines of the Dockerfile).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProduction } from '../../scripts/build.ts';

/** The controller as the image runs it. */
export interface ImageController {
  /** cli.js of the build, in the git-ignored .cache/bench-dist. */
  cli: string;
  /** The Dockerfile's final-stage `ENV`. */
  env: Record<string, string>;
}

/** Builds the controller as the image does into the git-ignored .cache/bench-dist, with the image's environment. */
export async function buildImageController(root: string): Promise<ImageController> {
  const outDir = join(root, '.cache', 'bench-dist');
  await buildProduction(outDir, { sourcemap: false });
  return { cli: join(outDir, 'cli.js'), env: imageEnv(readFileSync(join(root, 'Dockerfile'), 'utf8')) };
}

/** `ENV` of the Dockerfile's last stage, in both forms (`ENV A=1 B="two"` and the legacy `ENV A 1`). */
export function imageEnv(dockerfile: string): Record<string, string> {
  const lines = dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const lastFrom = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  const env: Record<string, string> = {};
  for (const line of lines.slice(lastFrom + 1)) {
    const m = /^ENV\s+(.*)$/i.exec(line);
    if (m === null) continue;
    const body = m[1] ?? '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(body)) {
      const [name = '', ...rest] = body.split(/\s+/);
      env[name] = rest.join(' ');
      continue;
    }
    for (const pair of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const raw = pair[2] ?? '';
      env[pair[1] ?? ''] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    }
  }
  return env;
}

// npm links the bins of a project's dependencies into node_modules/.bin, but never the project's own.
// Run by `npm ci` / `npm install` (the `prepare` script) so that, with node_modules/.bin first on PATH,
// `kvsync` is this checkout's command and `node` the Node 24 that npm installed beside it.
// Plain JavaScript: npm may run it on an older system Node.
/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- untyped JSON: package.json's `bin` maps names to files */
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, 'node_modules', '.bin');
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
mkdirSync(binDir, { recursive: true });
for (const [name, file] of Object.entries(bin)) {
  const link = join(binDir, name);
  rmSync(link, { force: true });
  symlinkSync(relative(binDir, join(root, file)), link);
}

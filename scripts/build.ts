/**
 * The production build (`npm run build`, the image's `dist/`): the product's sources and their
 * dependencies bundled by esbuild into a few ES modules, so that a command loads one file of the code it
 * uses instead of thousands of modules (`@kubernetes/client-node` alone ships about a thousand, of which the
 * controller uses a few API groups). Measured in docs/benchmarks.md: the controller's RSS and heap.
 *
 * Layout: `dist/cli.js` (src/cli.ts: runs when started as the script, exports `runAndExit` for
 * bin/kvsync.js), `dist/decode-worker.js` (the certificate decoder's worker thread) and shared chunks, all in
 * `dist/` itself: code that finds a file by `import.meta.url` (the worker, the development commands) then
 * resolves it against `dist/` whichever chunk it landed in. Subcommands stay lazily loaded (code splitting):
 * `kvsync convert` does not load the Kubernetes client.
 *
 * Type checking is `npm run typecheck`'s job; esbuild only strips types. Whitespace and syntax are
 * minified (the source text stays in memory for V8's lazy compilation), names are kept so that stack
 * traces and error names read as in the sources; a linked source map maps them back.
 *
 * Every large module is ASCII-only: Node decodes a module's source with a single non-ASCII character
 * (even in a comment) into a two-byte string, so the 4.8 MB controller chunk would hold 9.5 MB of
 * memory instead of 4.8 MB for as long as the process runs. esbuild escapes non-ASCII characters in
 * strings but keeps them in comments and regular expressions as written, so the dependencies' license
 * comments go to a `.LEGAL.txt` file next to each module, and the build refuses a module that still
 * holds one (write it as an escape in the source).
 */
import { readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import ts from 'typescript';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface BuildResult {
  /** Output files, relative to the output folder. */
  outputs: string[];
  /** Repository-relative paths of every source file bundled. */
  inputs: string[];
}

/**
 * The product's source files, repository-relative: what tsconfig.build.json compiles (src/ without the
 * emulator, the `dev` command and test code), the one definition of what may ship.
 */
export function productSources(): Set<string> {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('cannot read tsconfig.build.json');
  return new Set(parsed.fileNames.map((f) => relative(ROOT, resolve(f))));
}

/**
 * Modules at least this large must be ASCII-only (see the module comment); a smaller one, like a
 * lazily loaded dependency chunk with a typographic quote in a regular expression, costs a few KB.
 */
export const ASCII_ONLY_FROM_BYTES = 64 * 1024;

/** Offset of the first non-ASCII byte of `code`, or -1. */
export function firstNonAscii(code: Uint8Array): number {
  return code.findIndex((b) => b > 0x7f);
}

/** Bundled files of this repository (not node_modules) that are not product sources. */
export function strayInputs(inputs: readonly string[], product: ReadonlySet<string>): string[] {
  return inputs.filter((f) => !f.startsWith('node_modules/') && !product.has(f));
}

/**
 * Bundles the product into `outDir` (emptied first).
 * @throws when a source outside the product (tsconfig.build.json) was bundled: a product module imports it
 */
export async function buildProduction(outDir = join(ROOT, 'dist'), options: { sourcemap?: boolean } = {}): Promise<BuildResult> {
  await rm(outDir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: 'src/cli.ts', 'decode-worker': 'src/pki/decode-worker.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir: outDir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    sourcemap: options.sourcemap === false ? false : 'linked',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    // CommonJS dependencies bundled into ES modules still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __kvsyncCreateRequire } from 'node:module'; const require = __kvsyncCreateRequire(import.meta.url);" },
  });
  const inputs = Object.keys(result.metafile.inputs);
  const strays = strayInputs(inputs, productSources());
  if (strays.length > 0) throw new Error(`the production build bundles sources outside tsconfig.build.json: ${strays.join(', ')}`);
  const outputs = outputsOf(result.metafile, outDir);
  const wide = await nonAsciiModules(outDir, outputs);
  if (wide.length > 0) throw new Error(`the production build has non-ASCII characters in large modules (each would be held as a two-byte string): ${wide.join(', ')}`);
  return { outputs, inputs };
}

/** JS modules of at least {@link ASCII_ONLY_FROM_BYTES} with a non-ASCII byte, each with a few characters around the first one. */
async function nonAsciiModules(outDir: string, outputs: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of outputs.filter((f) => f.endsWith('.js'))) {
    const code = await readFile(join(outDir, file));
    const at = code.length >= ASCII_ONLY_FROM_BYTES ? firstNonAscii(code) : -1;
    if (at >= 0) found.push(`${file} at byte ${at} ("${code.subarray(Math.max(0, at - 40), at + 8).toString('utf8')}")`);
  }
  return found;
}

function outputsOf(metafile: Metafile, outDir: string): string[] {
  return Object.keys(metafile.outputs).map((f) => relative(outDir, resolve(ROOT, f))).sort();
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] === undefined ? undefined : resolve(process.argv[2]);
  const { outputs, inputs } = await buildProduction(out);
  console.log(`dist: ${outputs.filter((f) => !f.endsWith('.map')).length} modules from ${inputs.length} sources`);
}

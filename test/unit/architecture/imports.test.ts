/**
 * The shape of the import graph under src/: the product (what tsconfig.build.json compiles) reaches
 * nothing of the development install (src/emulator, src/dev) and no test support, and no files import
 * each other in a circle. Read from the sources with TypeScript's own import scanner, so a dynamic
 * `import('./x.ts')` counts too; the CLI's computed-URL load of `dev` and `emulator` is the one
 * deliberate way in, and the production build leaves those commands out.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = resolve(ROOT, 'src');

/** Whole paths of the files a tsconfig compiles (its include minus its exclude). */
function compiledFiles(tsconfig: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(resolve(ROOT, tsconfig), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error(`cannot read ${tsconfig}`);
  return parsed.fileNames.map((f) => resolve(f));
}

/** The files under src/ that `file` imports (static, type-only, re-exports and literal dynamic imports). */
function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles.flatMap(({ fileName }) => (fileName.startsWith('.') ? [resolve(dirname(file), fileName)] : [])).filter((f) => f.startsWith(`${SRC}/`));
}

const isTest = (file: string): boolean => /\.test\.ts$/.test(file);
const under = (file: string, dir: string): boolean => file.startsWith(`${resolve(SRC, dir)}/`);
const rel = (file: string): string => relative(ROOT, file);

/** Strongly connected components of more than one file (or a file importing itself): Tarjan's algorithm. */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.map(rel).sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the import graph under src/', () => {
  const product = compiledFiles('tsconfig.build.json');
  const allSources = compiledFiles('tsconfig.json').filter((f) => f.startsWith(`${SRC}/`) && !isTest(f));

  it('the product build covers the controller, the sidecar, the webhook and the CLI, and none of the development install', () => {
    const files = product.map(rel);
    expect(files).toEqual(expect.arrayContaining(['src/cli.ts', 'src/controller/controller.ts', 'src/mount/sidecar.ts', 'src/webhook/server.ts']));
    expect(files.filter((f) => f.startsWith('src/emulator/') || f.startsWith('src/dev/') || f.endsWith('.test.ts'))).toEqual([]);
  });

  it('product code imports nothing from src/emulator, src/dev or test support', () => {
    const productSet = new Set(product);
    const strays = product.flatMap((file) => localImports(file).filter((dep) => !productSet.has(dep)).map((dep) => `${rel(file)} -> ${rel(dep)}`));
    // An import outside the build's file list would pull that file into the production build unseen.
    expect(strays).toEqual([]);
    expect(product.some((file) => localImports(file).some((dep) => under(dep, 'emulator') || under(dep, 'dev')))).toBe(false);
  });

  it('no files under src/ import each other in a circle', () => {
    const graph = new Map(allSources.map((file) => [file, localImports(file)]));
    expect(graph.size).toBeGreaterThan(100);
    expect(circles(graph)).toEqual([]);
  });

  it('the circle finder finds a circle of three and a file importing itself, and nothing in a line', () => {
    const g = new Map<string, string[]>([
      [`${SRC}/a.ts`, [`${SRC}/b.ts`]],
      [`${SRC}/b.ts`, [`${SRC}/c.ts`]],
      [`${SRC}/c.ts`, [`${SRC}/a.ts`, `${SRC}/d.ts`]],
      [`${SRC}/d.ts`, [`${SRC}/e.ts`]],
      [`${SRC}/e.ts`, []],
      [`${SRC}/f.ts`, [`${SRC}/f.ts`]],
    ]);
    expect(circles(g)).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts'], ['src/f.ts']]);
  });
});

/**
 * Threat: the production image carries code that is not the product: the Key Vault/Entra emulator (a
 * token issuer with well-known keys), the `dev` command (builds and starts a control plane) and test
 * helpers. Code that ships can be reached (a wrong flag, a stray import) and widens what a scanner or an
 * attacker finds in the image.
 *
 * Defence: the production build (scripts/build.ts, esbuild) bundles product code only and refuses any
 * source outside tsconfig.build.json, and src/cli.ts loads `dev` and `emulator` through a computed URL
 * the bundler does not follow; from a build without them it says so in one line. Proved on a real
 * build into a folder with no node_modules: no emulator, dev or test source in the bundle; the
 * development commands refuse in one line; the product still works from the build alone, including
 * the certificate decoder's worker thread, which must load from the built file.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASCII_ONLY_FROM_BYTES, buildProduction, firstNonAscii, productSources, strayInputs, type BuildResult } from '../../scripts/build.ts';
import { makeChain } from '../../src/pki/test-fixtures.ts';

const repo = resolve(fileURLToPath(new URL('../../', import.meta.url)));

function run(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = execFile(process.execPath, args, { cwd: opts.cwd ?? repo, timeout: 240_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NODE_ENV: 'production' } }, (err, stdout, stderr) => {
      resolveRun({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

describe('threat: development and test code shipped in the production image', () => {
  let work = '';
  let dist = '';
  let build: BuildResult = { outputs: [], inputs: [] };

  beforeAll(async () => {
    // The image's layout without node_modules: package.json (ESM) and the build in dist/, so that
    // everything the product runs must come from the bundle.
    work = mkdtempSync(join(tmpdir(), 'kvsync-prodbuild-'));
    dist = join(work, 'dist');
    cpSync(join(repo, 'package.json'), join(work, 'package.json'));
    build = await buildProduction(dist);
  }, 300_000);

  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('bundles no emulator, dev, test or test-helper source', () => {
    const files = readdirSync(dist, { recursive: true }).map(String);
    expect(files).toContain('cli.js');
    expect(files).toContain('decode-worker.js');
    expect(build.inputs).toEqual(expect.arrayContaining(['src/cli.ts', 'src/controller/controller.ts', 'src/mount/sidecar.ts']));
    const shipped = build.inputs.filter((f) => /^src\/(emulator|dev)\/|\.test\.ts$|(^|\/)testing(\/|-)|test-fixtures/.test(f));
    expect(shipped).toEqual([]);
  });

  it('the build refuses a bundled source outside tsconfig.build.json', () => {
    const product = productSources();
    expect(product.has('src/cli.ts')).toBe(true);
    expect(strayInputs(['src/cli.ts', 'node_modules/yaml/dist/index.js', 'src/emulator/server.ts', 'src/pki/test-fixtures.ts'], product)).toEqual(['src/emulator/server.ts', 'src/pki/test-fixtures.ts']);
  });

  it('keeps every large module ASCII-only (held as one byte per character), the license comments beside it', () => {
    const modules = build.outputs.filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(dist, f)));
    const large = modules.filter((code) => code.length >= ASCII_ONLY_FROM_BYTES);
    expect(large.length).toBeGreaterThan(0);
    expect(large.map(firstNonAscii)).toEqual(large.map(() => -1));
    expect(build.outputs.some((f) => f.endsWith('.LEGAL.txt'))).toBe(true);
    expect(firstNonAscii(Buffer.from(String.raw`/[\u2018]/`))).toBe(-1);
    expect(firstNonAscii(Buffer.from('/[‘]/'))).toBe(2);
  });

  it('`kvsync emulator` and `kvsync dev` refuse in one line from the build; product commands run', async () => {
    for (const command of ['emulator', 'dev']) {
      const result = await run([join(dist, 'cli.js'), command, '--help'], { cwd: work });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`kvsync: "${command}" is a command of the development install (npm ci in a kvsync checkout); this installation ships without it\n`);
    }
    const help = await run([join(dist, 'cli.js'), 'convert', '--help'], { cwd: work });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: kvsync convert/m);
  });

  it('decodes a certificate through the built worker thread', async () => {
    const chain = await makeChain('EC', 'compiled worker');
    const pem = chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem;
    // The pool is in whichever shared chunk the bundler chose: the one that exports it.
    const chunk = readdirSync(dist).find((f) => f.endsWith('.js') && /export\{[^}]*\bDecodePool\b/.test(readFileSync(join(dist, f), 'utf8')));
    expect(chunk).toBeDefined();
    const script = `
      import { DecodePool } from ${JSON.stringify(join(dist, chunk ?? ''))};
      const pool = new DecodePool();
      let input = '';
      for await (const chunk of process.stdin) input += chunk;
      const bundle = await pool.decode(input, 'application/x-pem-file');
      console.log(JSON.stringify({ subject: bundle.leaf.subject, workers: pool.stats.workersStarted }));
      await pool.close();
    `;
    // A script file, not --input-type: a worker inherits the process's execArgv.
    const file = join(work, 'decode.mjs');
    writeFileSync(file, script);
    const result = await run([file], { cwd: work, input: pem });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ subject: 'CN=compiled worker leaf', workers: 1 });
  });
});

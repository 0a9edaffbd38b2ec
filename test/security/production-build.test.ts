/**
 * Threat: the production image carries code that is not the product: the Key Vault/Entra emulator (a
 * token issuer with well-known keys), the `dev` command (builds and starts a control plane) and test
 * helpers. Code that ships can be reached (a wrong flag, a stray import) and widens what a scanner or an
 * attacker finds in the image.
 *
 * Defence: tsconfig.build.json compiles product code only, and src/cli.ts loads `dev` and `emulator`
 * through a computed URL the compiler does not follow; from a build without them it says so in one
 * line. Proved on a real build of tsconfig.build.json: no emulator, dev or test file in the output;
 * the development commands refuse in one line; the product still works from the build, including the
 * certificate decoder's worker thread, which must load from the compiled file.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  beforeAll(async () => {
    // A layout like the image's: package.json (ESM), node_modules, and the build in dist/.
    work = mkdtempSync(join(tmpdir(), 'kvsync-prodbuild-'));
    dist = join(work, 'dist');
    cpSync(join(repo, 'package.json'), join(work, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(work, 'node_modules'), 'dir');
    const built = await run([join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json'), '--outDir', dist]);
    if (built.code !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${built.stdout}${built.stderr}`);
  }, 300_000);

  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('compiles no emulator, dev, test or test-helper file', () => {
    const files = readdirSync(dist, { recursive: true }).map(String);
    expect(files).toContain('cli.js');
    expect(files).toContain(join('pki', 'decode-worker.js'));
    const shipped = files.filter((f) => /^(emulator|dev)(\/|$)|\.test\.js|(^|\/)testing(\/|-)|test-fixtures/.test(f));
    expect(shipped).toEqual([]);
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

  it('decodes a certificate through the compiled worker thread', async () => {
    const chain = await makeChain('EC', 'compiled worker');
    const pem = chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem;
    const script = `
      import { DecodePool } from ${JSON.stringify(join(dist, 'pki', 'decode-pool.js'))};
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

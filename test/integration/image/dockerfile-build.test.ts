/**
 * Performs the Dockerfile's steps without a container engine: the build stage's COPY and RUN lines
 * (parsed from the Dockerfile, so the test follows it) in a clean temporary folder, then the final
 * stage's `COPY --from=build` lines into a second folder, the runtime layout. The built command is
 * started from that layout with the Node running this test (the distroless image's Node stands in).
 * npm uses its local cache first (`prefer-offline`), so no download happens when the cache is warm.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeChain } from '../../../src/pki/test-fixtures.ts';

const repo = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

interface Instruction {
  op: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages (line continuations joined, comments and parser directives dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  // ARGs before the first FROM may be used in FROM lines; the test follows their defaults (the public images).
  const globalArgs = new Map<string, string>();
  for (const line of logical) {
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (match === null) throw new Error(`unparsable Dockerfile line: ${line}`);
    const op = (match[1] ?? '').toUpperCase();
    const args = match[2] ?? '';
    if (op === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = args.split('=', 2);
      globalArgs.set(name.trim(), value.trim());
      continue;
    }
    if (op === 'FROM') {
      const [raw = '', as, name] = args.split(/\s+/);
      const image = raw.replace(/\$\{(\w+)\}/g, (_, arg: string) => {
        const value = globalArgs.get(arg);
        if (value === undefined || value === '') throw new Error(`FROM uses the ARG ${arg}, which has no default before the first FROM`);
        return value;
      });
      stages.push({ from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`${op} before FROM`);
    stage.instructions.push({ op, args });
  }
  return stages;
}

interface CopyLine {
  from: string | undefined;
  sources: string[];
  dest: string;
}

function parseCopy(args: string): CopyLine {
  const words = args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (w.startsWith('--')) continue; // --chown, --chmod, --link: no effect on contents
    else rest.push(w);
  }
  const dest = rest.pop();
  if (dest === undefined || rest.length === 0) throw new Error(`COPY needs sources and a destination: ${args}`);
  return { from, sources: rest, dest };
}

/** Where `dest` (absolute, or relative to the stage's WORKDIR) lands under `root`. */
function inside(root: string, workdir: string, dest: string): string {
  const abs = posix.resolve(workdir, dest);
  return join(root, abs);
}

/** Docker's COPY: a directory's contents go into `destAbs`; a file goes into it when `dest` ends with `/`. */
function copyInto(srcPath: string, dest: string, destAbs: string): void {
  if (statSync(srcPath).isDirectory()) {
    mkdirSync(destAbs, { recursive: true });
    cpSync(srcPath, destAbs, { recursive: true });
  } else if (dest.endsWith('/') || dest === '.') {
    mkdirSync(destAbs, { recursive: true });
    cpSync(srcPath, join(destAbs, posix.basename(srcPath)));
  } else {
    mkdirSync(dirname(destAbs), { recursive: true });
    cpSync(srcPath, destAbs);
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolveRun({ code, stdout, stderr });
    });
  });
}

const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const buildStage = stages.find((s) => s.name === 'build');
const finalStage = stages.at(-1);

describe('Dockerfile', () => {
  it('has a build stage on the full Node 24 image and a distroless Node 24 non-root final stage', () => {
    expect(buildStage?.from).toBe('node:24-bookworm');
    expect(finalStage?.from).toBe('gcr.io/distroless/nodejs24-debian12:nonroot');
    const user = finalStage?.instructions.filter((i) => i.op === 'USER').at(-1);
    expect(user?.args).toBe('65532:65532');
    const entrypoint = finalStage?.instructions.find((i) => i.op === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint?.args ?? 'null')).toEqual(['/nodejs/bin/node', '/app/bin/kvsync.js']);
    // Only artefacts of the build stage reach the runtime image: no source, no build context.
    const finalCopies = (finalStage?.instructions ?? []).filter((i) => i.op === 'COPY' || i.op === 'ADD').map((i) => parseCopy(i.args));
    expect(finalCopies.every((c) => c.from === 'build')).toBe(true);
    expect(finalCopies.flatMap((c) => c.sources).sort()).toEqual(['/src/bin/', '/src/dist/', '/src/node_modules/', '/src/package.json', '/src/usr-local-bin/kvsync']);
    expect(stages.every((s) => !s.from.endsWith(':latest') && s.from.includes(':'))).toBe(true);
  });

  it('.dockerignore admits every file the build stage copies', () => {
    const ignore = readFileSync(join(repo, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    const admitted = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const copied = (buildStage?.instructions ?? []).filter((i) => i.op === 'COPY').flatMap((i) => parseCopy(i.args).sources);
    expect(copied.length).toBeGreaterThan(0);
    for (const source of copied) expect(admitted).toContain(source);
  });
});

describe('Dockerfile lint (dockerfile-utils, the validator of the VS Code Docker language server)', () => {
  // Every optional check raised to an error; the default checks (syntax, arguments, flags, ports, …) always run.
  const strict: ValidatorSettings = {
    deprecatedMaintainer: ValidationSeverity.ERROR,
    directiveCasing: ValidationSeverity.ERROR,
    emptyContinuationLine: ValidationSeverity.ERROR,
    instructionCasing: ValidationSeverity.ERROR,
    instructionCmdMultiple: ValidationSeverity.ERROR,
    instructionEntrypointMultiple: ValidationSeverity.ERROR,
    instructionHealthcheckMultiple: ValidationSeverity.ERROR,
    instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
    instructionWorkdirRelative: ValidationSeverity.ERROR,
  };

  it('reports nothing on the Dockerfile', () => {
    expect(validate(dockerfile, strict).map((d) => `${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`)).toEqual([]);
  });

  it('reports a broken Dockerfile (the linter is live)', () => {
    const broken = 'FROM node:24-bookworm\ncopy a\nWORKDIR app\nEXPOSE http\n';
    expect(validate(broken, strict).length).toBeGreaterThanOrEqual(3);
  });
});

describe('Dockerfile build steps performed in a clean folder', () => {
  let work: string;
  let runtimeRoot: string;
  let app: string;
  const steps: string[] = [];
  // The Node running vitest is Node 24 (node_modules/.bin/node under npm scripts): npm and the build
  // use it first on PATH, as the node:24 image's would be.
  const nodeDir = dirname(process.execPath);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [nodeDir, process.env.PATH ?? ''].join(delimiter),
    npm_config_prefer_offline: 'true',
    npm_config_update_notifier: 'false',
    NODE_ENV: undefined,
  };

  beforeAll(async () => {
    if (buildStage === undefined || finalStage === undefined) throw new Error('Dockerfile: no build stage');
    work = mkdtempSync(join(tmpdir(), 'kvsync-image-'));
    const buildRoot = join(work, 'build');
    runtimeRoot = join(work, 'runtime');
    let workdir = '/';
    for (const { op, args } of buildStage.instructions) {
      if (op === 'WORKDIR') {
        workdir = posix.resolve(workdir, args);
        mkdirSync(inside(buildRoot, workdir, '.'), { recursive: true });
      } else if (op === 'COPY') {
        const copy = parseCopy(args);
        if (copy.from !== undefined) throw new Error(`build stage COPY --from is not performed by this test: ${args}`);
        for (const source of copy.sources) copyInto(join(repo, source), copy.dest, inside(buildRoot, workdir, copy.dest));
      } else if (op === 'RUN') {
        const started = Date.now();
        const result = await run('sh', ['-c', args], inside(buildRoot, workdir, '.'), env, 150_000);
        steps.push(`${args} (${Date.now() - started} ms)`);
        if (result.code !== 0) throw new Error(`RUN ${args} exited ${String(result.code)} after ${Date.now() - started} ms\nstdout: ${result.stdout.slice(-1500)}\nstderr: ${result.stderr.slice(-3000)}`);
      } else if (!['ENV', 'ARG', 'LABEL'].includes(op)) {
        throw new Error(`build stage instruction ${op} is not performed by this test`);
      }
    }
    workdir = '/';
    for (const { op, args } of finalStage.instructions) {
      if (op === 'WORKDIR') {
        workdir = posix.resolve(workdir, args);
        mkdirSync(inside(runtimeRoot, workdir, '.'), { recursive: true });
      } else if (op === 'COPY') {
        const copy = parseCopy(args);
        if (copy.from !== 'build') throw new Error(`final stage COPY not from the build stage: ${args}`);
        for (const source of copy.sources) copyInto(join(buildRoot, source), copy.dest, inside(runtimeRoot, workdir, copy.dest));
      }
    }
    app = inside(runtimeRoot, workdir, '.');
  }, 180_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('the runtime layout holds dist/, bin/, package.json and production dependencies only', () => {
    console.log(`image build steps: ${steps.join('; ')}`);
    expect(readdirSync(app).sort()).toEqual(['bin', 'dist', 'node_modules', 'package.json']);
    expect(existsSync(join(app, 'dist', 'cli.js'))).toBe(true);
    expect(existsSync(join(app, 'src'))).toBe(false);
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devPackages = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => path);
    expect(devPackages).toContain('node_modules/node');
    expect(devPackages).toContain('node_modules/typescript');
    for (const path of devPackages) expect(existsSync(join(app, path)), path).toBe(false);
    expect(existsSync(join(app, 'node_modules', '@kubernetes', 'client-node'))).toBe(true);
    // No test code, emulator or dev command compiled into the image (test/security/production-build.test.ts).
    const compiled = readdirSync(join(app, 'dist'), { recursive: true }).map(String);
    expect(compiled.filter((f) => f.endsWith('.test.js') || f.includes('testing') || f.includes('test-fixtures') || /^(emulator|dev)(\/|$)/.test(f))).toEqual([]);
  });

  it('`kvsync --help` lists the commands, run the way the ENTRYPOINT runs it', async () => {
    const result = await run(process.execPath, [join(app, 'bin', 'kvsync.js'), '--help'], app, { ...env, NODE_ENV: 'production' }, 20_000);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const command of ['controller', 'mount', 'convert', 'render']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('`kvsync` on PATH (the sidecar\'s command) is a launcher of bin/kvsync.js for the image\'s Node', async () => {
    const launcher = join(runtimeRoot, 'usr', 'local', 'bin', 'kvsync');
    expect(statSync(launcher).mode & 0o111).toBe(0o111);
    const text = readFileSync(launcher, 'utf8');
    expect(text.split('\n')[0]).toBe('#!/nodejs/bin/node');
    // Run it with /app mapped to the layout (the shebang's Node is the distroless image's).
    const mapped = join(work, 'kvsync-launcher');
    writeFileSync(mapped, text.split('\n').slice(1).join('\n').replaceAll('/app/', `${app}/`));
    const result = await run(process.execPath, [mapped, 'mount', '--help'], app, { ...env, NODE_ENV: 'production' }, 20_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^usage: kvsync mount/m);
  });

  it('`kvsync convert --in <PEM bundle>` works from dist/ with production dependencies only', async () => {
    const chain = await makeChain('EC', 'kvsync image');
    const bundle = join(work, 'bundle.pem');
    writeFileSync(bundle, [chain.leaf.keyPem, chain.leaf.certPem, chain.intermediate.certPem, chain.root.certPem].join(''));
    const result = await run(process.execPath, [join(app, 'bin', 'kvsync.js'), 'convert', '--in', bundle], app, { ...env, NODE_ENV: 'production' }, 20_000);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, string>;
    expect(Object.keys(out).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(new X509Certificate(out['tls.crt'] ?? '').fingerprint256).toBe(chain.leaf.cert.fingerprint256);
    expect(new X509Certificate(out['ca.crt'] ?? '').fingerprint256).toBe(chain.root.cert.fingerprint256);
    expect(out['tls.key']).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });
});

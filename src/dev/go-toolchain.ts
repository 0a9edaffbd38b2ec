/**
 * The Go toolchain that builds the tools kvsync runs but does not ship (the control plane, helm):
 * finding it, checking its version, and the environment every build runs with.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type GoProblem = 'GoMissing' | 'GoTooOld';

/** Where to get Go, for error messages: distribution packages are often too old for these tools. */
export function installGoHint(min: readonly [number, number]): string {
  return (
    `Install Go >= ${min.join('.')} from https://go.dev/dl (steps: https://go.dev/doc/install; distribution packages are ` +
    'often older, e.g. Debian bookworm\'s golang-go is 1.19)'
  );
}

/**
 * The `go env GOVERSION` of the Go on PATH when it is at least `min`.
 * @returns the version (e.g. `go1.26.8`), or a {@link GoProblem} with a message saying what is wrong
 */
export async function findGo(min: readonly [number, number]): Promise<{ version: string } | { problem: GoProblem; message: string; cause?: unknown }> {
  let out: string;
  try {
    ({ stdout: out } = await execFileAsync('go', ['env', 'GOVERSION'], { env: goEnv() }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: 'GoMissing', message: code === 'ENOENT' ? 'Go is not installed (no `go` on PATH)' : '`go env GOVERSION` failed', cause: err };
  }
  const version = out.trim();
  const m = /^go(\d+)\.(\d+)/.exec(version);
  const tooOld = !m || Number(m[1]) < min[0] || (Number(m[1]) === min[0] && Number(m[2]) < min[1]);
  if (tooOld) return { problem: 'GoTooOld', message: `found ${version || 'an unknown Go'}, need >= go${min.join('.')}` };
  return { version };
}

/**
 * The environment of every build: GOTOOLCHAIN=local never downloads a toolchain (no internet beyond
 * the module proxy); -mod=readonly because go.sum is committed and a build must not rewrite it.
 */
export function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' };
}

/**
 * Runs `go ARGS` in `cwd` with {@link goEnv}, writing its output to `logFile`.
 * @throws Error naming the exit status with the last lines of output when go fails
 */
export function runGo(args: string[], cwd: string, logFile: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    logFile.write(`$ (cd ${cwd} && go ${args.join(' ')})\n`);
    const child = spawn('go', args, { cwd, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer): void => {
      logFile.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`\`go ${args[0] ?? ''}\` exited with ${signal ?? code}; last output:\n${tail.trim().split('\n').slice(-8).join('\n')}`));
    });
  });
}

/** Where {@link buildIntoCache} writes the build log of `dir`. */
export function buildLogPath(dir: string): string {
  return `${dir}.build.log`;
}

/**
 * Builds a cache folder atomically: `steps` builds and checks everything into a fresh temporary folder
 * beside `dir` (logging to {@link buildLogPath}), then `manifest.json` is written and the folder is renamed
 * to `dir` in one step, so `dir` either holds a complete, checked build or does not exist. When another
 * process finished the same build first, its folder is kept (it is as good). The temporary folder is always
 * removed.
 * @throws whatever `steps` or the file system throws, unchanged
 */
export async function buildIntoCache(dir: string, manifest: Record<string, unknown>, steps: (tmp: string, logFile: NodeJS.WritableStream) => Promise<void>): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  const logFile = createWriteStream(buildLogPath(dir));
  try {
    await steps(tmp, logFile);
    await writeFile(join(tmp, 'manifest.json'), JSON.stringify({ ...manifest, builtAt: new Date().toISOString() }, null, 2));
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  } finally {
    logFile.end();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Whether `path` exists (any kind of file). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

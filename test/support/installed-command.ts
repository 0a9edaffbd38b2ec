/**
 * `kvsync` installed the way npm installs a command: `npm install -g --prefix <tmp> <checkout>` links the
 * package into `<tmp>/lib/node_modules` and its bin into `<tmp>/bin/kvsync` (what `npm link` and
 * `npm install -g .` do). Tests run that command by name from PATH, never the source file.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollUntil } from '../../src/util/poll.ts';

export const repoRoot = resolve(fileURLToPath(new URL('../../', import.meta.url)));

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end; never rejects on a non-zero exit (the exit code is the result). */
export function runProgram(file: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string }): Promise<CommandResult> {
  return new Promise((done, fail) => {
    const child = execFile(file, args, { env: options.env, cwd: options.cwd ?? tmpdir(), timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        fail(new Error(`${file} ${args.join(' ')}: ${err.message}\nstderr: ${stderr}`));
        return;
      }
      done({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL when still there after 10 s (a negative pid is a process group). */
export async function stopProcess(pid: number | undefined): Promise<void> {
  if (pid === undefined || !processAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await pollUntil(() => (processAlive(pid) ? undefined : true), { timeoutMs: 10_000, description: `process ${pid} to stop` }).catch(() => {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
}

export interface InstalledKvsync {
  /** Folder holding the `kvsync` link npm made; first on `env.PATH`. */
  binDir: string;
  /** PATH with the installed command and the Node running the tests (Node 24 from npm) first. */
  env: NodeJS.ProcessEnv;
  /** Runs `kvsync ARGS` by name, as a shell would. */
  run(args: readonly string[], options?: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<CommandResult>;
  remove(): void;
}

export async function installKvsync(): Promise<InstalledKvsync> {
  const prefix = mkdtempSync(join(tmpdir(), 'kvsync-prefix-'));
  const nodeDir = dirname(process.execPath);
  const npmEnv: NodeJS.ProcessEnv = { ...process.env, PATH: [nodeDir, process.env.PATH ?? ''].join(delimiter), npm_config_update_notifier: 'false' };
  const installed = await runProgram('npm', ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', repoRoot], { env: npmEnv, timeoutMs: 120_000 });
  const binDir = join(prefix, 'bin');
  if (installed.code !== 0 || !existsSync(join(binDir, 'kvsync'))) {
    throw new Error(`npm install -g exited ${String(installed.code)} without bin/kvsync\n${installed.stderr}`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: [binDir, nodeDir, process.env.PATH ?? ''].join(delimiter), NODE_OPTIONS: undefined };
  return {
    binDir,
    env,
    run: (args, options = {}) => runProgram('kvsync', args, { env: { ...env, ...options.env }, cwd: options.cwd, timeoutMs: options.timeoutMs }),
    remove: () => rmSync(prefix, { recursive: true, force: true }),
  };
}

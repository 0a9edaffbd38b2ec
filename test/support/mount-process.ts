/** `kvsync mount` as a process of its own, as the tests run the sidecar, with every output line kept. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');
const CLI = join(REPO, 'src', 'cli.ts');

export interface MountProcess {
  child: ChildProcess;
  /** Every line it wrote to stdout and stderr, as they arrive. */
  lines: string[];
  exit: Promise<number | null>;
}

/** Runs `node src/cli.ts mount <args>` with only PATH, HOME and `env` (no AZURE_* of the developer's shell). */
export function startMountProcess(args: string[], env: NodeJS.ProcessEnv): MountProcess {
  const child = spawn(process.execPath, [CLI, 'mount', ...args], { cwd: REPO, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  const collect = (b: Buffer): void => {
    const parts = (partial + b.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exit };
}

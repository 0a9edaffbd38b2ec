/**
 * A control-plane process started under `leash` (hack/kube-bins/leash): it holds a pipe to leash's
 * stdin, so when this Node process dies — even by SIGKILL — leash sees EOF and terminates the child.
 * Output goes to a log file whose tail is quoted when the process dies during start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { ControlPlaneError } from './errors.ts';

export class SupervisedProcess {
  readonly name: string;
  readonly logPath: string;
  readonly #command: string[];
  #child: ChildProcess;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #exited: Promise<void>;

  constructor(name: string, leashPath: string, binary: string, args: string[], logPath: string) {
    this.name = name;
    this.logPath = logPath;
    this.#command = [leashPath, '-grace', '10s', '--', binary, ...args];
    [this.#child, this.#exited] = this.#spawn();
  }

  #spawn(): [ChildProcess, Promise<void>] {
    const [leash = '', ...args] = this.#command;
    const log = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(leash, args, { stdio: ['pipe', log, log] });
    } finally {
      closeSync(log);
    }
    this.#exit = undefined;
    const exited = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve();
      });
      child.on('error', () => resolve());
    });
    // The pipe must not keep the event loop alive, nor crash us when leash is already gone.
    child.stdin?.on('error', () => {});
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.unref();
    return [child, exited];
  }

  /** Stops the process (as {@link stop}) and starts it again with the same command line, log appended. */
  async restart(graceMs?: number): Promise<void> {
    await this.stop(graceMs);
    [this.#child, this.#exited] = this.#spawn();
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Throws ProcessExited (with the log tail and a hint) if the process has died. */
  assertRunning(): void {
    if (this.#exit === undefined) return;
    const tail = this.logTail(15);
    const how = this.#exit.signal ? `was killed by ${this.#exit.signal}` : `exited with code ${this.#exit.code}`;
    const inUse = /address already in use/i.test(tail) ? ' (a port it needs is in use)' : '';
    throw new ControlPlaneError(
      inUse ? 'PortInUse' : 'ProcessExited',
      `${this.name} ${how} during start${inUse}. Last lines of ${this.logPath}:\n${tail}`,
    );
  }

  logTail(lines: number): string {
    try {
      return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM (leash forwards it), then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.#exit !== undefined) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

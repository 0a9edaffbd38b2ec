/**
 * A private Docker daemon (dockerd from Debian's docker.io) for building images: its own socket and
 * exec root under /run/kvsync-docker, its layers in the kvsync cache (so rebuilds reuse them), no
 * bridge, no iptables rules and no port of its own. It runs under `leash` and is stopped after the
 * build. Builds use the classic builder with `--network none`: BuildKit would fetch its Dockerfile
 * frontend image from a registry, and a build must reach nothing off this machine.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { cacheRoot } from './kube-binaries.ts';
import { SupervisedProcess } from './supervised-process.ts';
import { pollUntil } from '../util/poll.ts';

const execFileAsync = promisify(execFile);

const RUN_DIR = '/run/kvsync-docker';

export interface RunningDocker {
  /** `unix:///run/kvsync-docker/docker.sock` */
  host: string;
  /** Runs the docker CLI against this daemon; resolves with stdout. */
  docker(args: string[], opts?: { timeoutMs?: number; logFile?: NodeJS.WritableStream }): Promise<string>;
  stop(): Promise<void>;
}

/** Starts dockerd and waits until it answers. */
export async function startDocker(programs: { dockerd: string; docker: string }, leash: string, log: (line: string) => void): Promise<RunningDocker> {
  await mkdir(join(RUN_DIR, 'exec'), { recursive: true });
  const dataRoot = join(cacheRoot(), 'docker');
  await mkdir(dataRoot, { recursive: true });
  const sock = join(RUN_DIR, 'docker.sock');
  const host = `unix://${sock}`;
  const daemon = new SupervisedProcess('dockerd', leash, programs.dockerd, [
    `--host=${host}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${join(RUN_DIR, 'exec')}`,
    `--pidfile=${join(RUN_DIR, 'dockerd.pid')}`,
    '--bridge=none',
    '--iptables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--storage-driver=overlay2',
  ], join(RUN_DIR, 'dockerd.log'));
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' };
  const docker = (args: string[], opts: { timeoutMs?: number; logFile?: NodeJS.WritableStream } = {}): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(programs.docker, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let tail = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        opts.logFile?.write(c);
      });
      child.stderr.on('data', (c: Buffer) => {
        tail = (tail + c.toString('utf8')).slice(-4000);
        opts.logFile?.write(c);
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`docker ${args[0] ?? ''} exited with ${signal ?? code}: ${(tail || out).trim().split('\n').slice(-12).join('\n')}`));
      });
    });
  log(`starting dockerd (layers cached in ${dataRoot})`);
  try {
    await pollUntil(
      async () => {
        daemon.assertRunning();
        await execFileAsync(programs.docker, ['version', '--format', '{{.Server.Version}}'], { env, timeout: 10_000 });
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 250, description: 'dockerd to answer', isFatal: (e) => e instanceof ControlPlaneError },
    );
  } catch (err) {
    await daemon.stop();
    throw new ControlPlaneError('ImageBuildFailed', `dockerd did not start: ${err instanceof Error ? err.message : String(err)}. Last lines of ${daemon.logPath}:\n${daemon.logTail(10)}`, { cause: err });
  }
  return { host, docker, stop: () => daemon.stop() };
}

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';

const execFileAsync = promisify(execFile);
const cli = new URL('../../../src/cli.ts', import.meta.url).pathname;

/** Pids of processes whose parent is `ppid` (read from /proc; no ps needed). */
async function childrenOf(ppid: number): Promise<number[]> {
  const { stdout } = await execFileAsync('sh', ['-c', `grep -l "^PPid:[[:space:]]*${ppid}$" /proc/[0-9]*/status 2>/dev/null || true`]);
  return stdout.split('\n').filter(Boolean).map((p) => Number(p.split('/')[2]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Started {
  child: ChildProcess;
  output: () => string;
  kubeconfig: string;
  dir: string;
}

async function startDevControlPlane(): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'kvsync-devcmd-'));
  const kubeconfig = join(dir, 'kubeconfig');
  // The same binaries the global setup built; no second build.
  const child = spawn(process.execPath, [cli, 'dev', 'control-plane', '--kubeconfig', kubeconfig], {
    env: { ...process.env, KVSYNC_KUBE_BIN_DIR: inject('kubeBinDir') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  await pollUntil(() => (out.includes('is serving at') ? true : undefined), { timeoutMs: 90_000, description: `kvsync dev control-plane to be ready; output so far:\n${out}` });
  return { child, output: () => out, kubeconfig, dir };
}

describe('kvsync dev control-plane', () => {
  let started: Started | undefined;
  afterEach(async () => {
    if (started?.child.exitCode === null) started.child.kill('SIGKILL');
    if (started) await rm(started.dir, { recursive: true, force: true });
  });

  it('serves `kubectl get --raw /version` from the built binary and stops cleanly on SIGTERM', async () => {
    started = await startDevControlPlane();
    expect(started.output()).toMatch(/kube-apiserver v1\.34\.\d+ is serving at https:\/\/127\.0\.0\.1:\d+/);
    const kubectl = join(inject('kubeBinDir'), 'kubectl');
    const { stdout } = await execFileAsync(kubectl, ['--kubeconfig', started.kubeconfig, 'get', '--raw', '/version']);
    expect(JSON.parse(stdout)).toMatchObject({ gitVersion: expect.stringMatching(/^v1\.34\./) as unknown });

    const leashes = await childrenOf(started.child.pid!);
    expect(leashes).toHaveLength(3);
    const exited = new Promise<number | null>((resolve) => started!.child.on('exit', (code) => resolve(code)));
    started.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of leashes) expect(alive(pid)).toBe(false);
  });

  it('leaves no process behind when its parent is killed with SIGKILL', async () => {
    started = await startDevControlPlane();
    const leashes = await childrenOf(started.child.pid!);
    const servers = (await Promise.all(leashes.map(childrenOf))).flat();
    expect(leashes).toHaveLength(3);
    expect(servers).toHaveLength(3);

    started.child.kill('SIGKILL');
    await pollUntil(() => ([...leashes, ...servers].some(alive) ? undefined : true), {
      timeoutMs: 30_000,
      description: 'etcd, kube-apiserver and kube-controller-manager to exit after their parent died',
    });
  });
});

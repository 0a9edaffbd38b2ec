import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { kubeConfig, statusOf } from '../support/kube.ts';

const cli = new URL('../../../src/cli.ts', import.meta.url).pathname;

/** Runs `kvsync dev ARGS` in a fresh folder; resolves with its exit code and combined output. */
async function runDev(args: string[], env: NodeJS.ProcessEnv, cwds: string[]): Promise<{ code: number | null; out: string }> {
  const cwd = await mkdtemp(join(tmpdir(), 'kvsync-first-run-'));
  cwds.push(cwd);
  const child = spawn(process.execPath, [cli, 'dev', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, out };
}

/** What every successful run prints, and what it never prints. */
function expectSyncAndRotation(out: string): void {
  expect(out, out).toContain('the demo worked');
  expect(out).toMatch(/KeyVaultSync shop\/shop: .*Ready=True/);
  expect(out).toMatch(/Secret shop\/shop-tls: type kubernetes\.io\/tls, tls\.crt \(\d+ bytes\), tls\.key \(\d+ bytes\)/);
  expect(out).toContain('tls.crt chain: CN=shop.example → issued by → CN=EmulatorTestCA Intermediate CA');
  expect(out).toMatch(/Secret shop\/shop-db: type Opaque, DB_PASSWORD \(\d+ bytes\)/);
  expect(out).toMatch(/synced db-password version [0-9a-f]{32}: .*Ready=True/);
  // The seeded value (samples/emulator.yaml), the rotated one, the principal's secret and tokens never show.
  expect(out).not.toContain('correct-horse-battery-staple');
  expect(out).not.toMatch(/rotated-\d+/);
  expect(out).not.toContain('demo-client-secret');
  expect(out).not.toContain('PRIVATE KEY');
  expect(out).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // a JWT (the ServiceAccount token)
  // The watches' 429 while the just-installed CRDs become established is expected: not a warning.
  expect(out).not.toContain('watch failed');
  expect(out).not.toContain('"level":40');
}

describe('kvsync dev (npm run dev): the first run', () => {
  const cwds: string[] = [];
  afterAll(async () => {
    for (const cwd of cwds) await rm(cwd, { recursive: true, force: true });
  });

  it('syncs the sample certificate and secret into Secrets as the chart ServiceAccount, follows a rotation, prints no secret value and exits 0', async () => {
    const { code, out } = await runDev([], { ...process.env, KVSYNC_KUBE_BIN_DIR: inject('kubeBinDir'), KVSYNC_HELM_BIN: inject('helmBin') }, cwds);
    expectSyncAndRotation(out);
    expect(code).toBe(0);
    expect(out).toMatch(/installed the chart's RBAC \(charts\/kvsync rendered by helm v4\.\d+\.\d+\): ServiceAccount kvsync, ClusterRole kvsync-cluster, /);
    expect(out).toContain("running in-process as ServiceAccount kvsync-system/kvsync with only the chart's RBAC");
  });

  it('uses an existing cluster with --kubeconfig (no local control plane, no Go: helm from PATH) and removes what it installed on exit', async () => {
    // A PATH with helm and nothing else: no Go, so the chart is rendered by the helm found there.
    const pathDir = await mkdtemp(join(tmpdir(), 'kvsync-first-run-path-'));
    cwds.push(pathDir);
    await symlink(inject('helmBin'), join(pathDir, 'helm'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathDir };
    delete env.KVSYNC_HELM_BIN;
    const { code, out } = await runDev(['--kubeconfig', inject('kubeconfig')], env, cwds);
    expectSyncAndRotation(out);
    expect(code).toBe(0);
    expect(out).toMatch(/no usable Go; using v4\.\d+\.\d+ from PATH to render the chart/);
    expect(out).toContain('using the existing cluster of');
    expect(out).not.toContain('kube-apiserver v1');
    expect(out).toContain('as ServiceAccount kvsync-dev/kvsync-dev');
    const kc = kubeConfig();
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    for (const name of ['kvsync-dev-cluster', 'kvsync-dev-sync']) {
      expect(statusOf(await rbac.readClusterRole({ name }).catch((e: unknown) => e))).toBe(404);
      expect(statusOf(await rbac.readClusterRoleBinding({ name }).catch((e: unknown) => e))).toBe(404);
    }
    // Its namespaces are deleted (the namespace controller finishes in the background).
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await pollUntil(
      async () => {
        const left = await Promise.all(['shop', 'kvsync-dev'].map((name) => core.readNamespace({ name }).then((n) => n.status?.phase, (e: unknown) => (statusOf(e) === 404 ? 'gone' : 'error'))));
        return left.every((p) => p === 'gone' || p === 'Terminating') ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the demo namespaces deleted' },
    );
  });

  it('says what to install when there is no Go, and how to use an existing cluster instead', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: '/nonexistent' };
    delete env.KVSYNC_HELM_BIN;
    delete env.KVSYNC_KUBE_BIN_DIR;
    const { code, out } = await runDev([], env, cwds);
    expect(code).toBe(1);
    expect(out).toContain('GoMissing: Go is not installed (no `go` on PATH)');
    expect(out).toContain('Install Go >= 1.26 from https://go.dev/dl');
    expect(out).toContain('npm run dev -- --kubeconfig FILE');
  });
});

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlaneError } from './errors.ts';
import { ensureKubeBinaries, pinnedVersions } from './kube-binaries.ts';

describe('ensureKubeBinaries', () => {
  const saved = { ...process.env };
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvsync-bins-'));
  });
  afterEach(async () => {
    process.env = { ...saved };
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the pinned Kubernetes 1.34 and etcd 3.6 versions from the wrapper modules', async () => {
    const v = await pinnedVersions();
    expect(v.kubernetes).toMatch(/^v1\.34\.\d+$/);
    expect(v.etcd).toMatch(/^v3\.6\.\d+$/);
  });

  it('says how to install Go when there is none', async () => {
    delete process.env.KVSYNC_KUBE_BIN_DIR;
    process.env.PATH = dir; // an empty folder: no `go`
    const err = await ensureKubeBinaries().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as ControlPlaneError).reason).toBe('GoMissing');
    expect((err as Error).message).toMatch(/Install Go >= 1\.24/);
    expect((err as Error).message).toContain('KVSYNC_KUBE_BIN_DIR');
  });

  it('names the missing binary when KVSYNC_KUBE_BIN_DIR is incomplete', async () => {
    process.env.KVSYNC_KUBE_BIN_DIR = dir;
    const err = await ensureKubeBinaries().catch((e: unknown) => e);
    expect((err as ControlPlaneError).reason).toBe('BinaryMissing');
    expect((err as Error).message).toContain('kube-apiserver');
  });

  it('leaves nothing that looks like a good build when the build fails', async () => {
    delete process.env.KVSYNC_KUBE_BIN_DIR;
    process.env.KVSYNC_CACHE_DIR = dir;
    // No module proxy and an empty module cache: `go build` fails at once.
    process.env.GOPROXY = 'off';
    process.env.GOMODCACHE = join(dir, 'gomodcache');
    const err = await ensureKubeBinaries().catch((e: unknown) => e);
    expect((err as ControlPlaneError).reason).toBe('BuildFailed');
    expect((err as Error).message).toMatch(/see .*\.build\.log/);
    const left = await readdir(join(dir, 'kube-bins'));
    expect(left.filter((f) => !f.endsWith('.build.log'))).toEqual([]);
  });
});

import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureHelm, HelmError, pinnedHelmVersion, runHelm } from './helm.ts';

describe('ensureHelm', () => {
  const saved = { ...process.env };
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvsync-helm-'));
  });
  afterEach(async () => {
    process.env = { ...saved };
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the pinned helm v4 version from hack/helm/go.mod', async () => {
    expect(await pinnedHelmVersion()).toMatch(/^v4\.\d+\.\d+$/);
  });

  it('says which Go to install when there is none', async () => {
    delete process.env.KVSYNC_HELM_BIN;
    process.env.PATH = dir; // an empty folder: no `go`
    const err = await ensureHelm().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HelmError);
    expect((err as HelmError).reason).toBe('GoMissing');
    expect((err as Error).message).toMatch(/Install Go >= 1\.26 from https:\/\/go\.dev\/dl/);
    expect((err as Error).message).toContain('KVSYNC_HELM_BIN');
  });

  it('says when Go is too old', async () => {
    delete process.env.KVSYNC_HELM_BIN;
    const fakeGo = join(dir, 'go');
    await writeFile(fakeGo, '#!/bin/sh\necho go1.24.3\n');
    await chmod(fakeGo, 0o755);
    process.env.PATH = dir;
    const err = await ensureHelm().catch((e: unknown) => e);
    expect((err as HelmError).reason).toBe('GoTooOld');
    expect((err as Error).message).toContain('found go1.24.3, need >= go1.26');
  });

  it('names a missing KVSYNC_HELM_BIN', async () => {
    process.env.KVSYNC_HELM_BIN = join(dir, 'nope');
    const err = await ensureHelm().catch((e: unknown) => e);
    expect((err as HelmError).reason).toBe('BinaryMissing');
  });

  it('leaves nothing that looks like a good build when the build fails', async () => {
    delete process.env.KVSYNC_HELM_BIN;
    process.env.KVSYNC_CACHE_DIR = dir;
    // No module proxy and an empty module cache: `go build` fails at once.
    process.env.GOPROXY = 'off';
    process.env.GOMODCACHE = join(dir, 'gomodcache');
    const err = await ensureHelm().catch((e: unknown) => e);
    expect((err as HelmError).reason).toBe('BuildFailed');
    expect((err as Error).message).toMatch(/see .*\.build\.log/);
    const left = await readdir(join(dir, 'helm'));
    expect(left.filter((f) => !f.endsWith('.build.log'))).toEqual([]);
  });

  it('reports a failing helm command with its output as HelmFailed', async () => {
    const fakeHelm = join(dir, 'helm');
    await writeFile(fakeHelm, '#!/bin/sh\necho "Error: chart not found" >&2\nexit 1\n');
    await chmod(fakeHelm, 0o755);
    const err = await runHelm({ path: fakeHelm, version: 'v4.3.1', built: false }, ['lint', 'x']).catch((e: unknown) => e);
    expect((err as HelmError).reason).toBe('HelmFailed');
    expect((err as Error).message).toContain('chart not found');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlaneError } from './errors.ts';
import { ensureIngressController, pinnedTraefikVersion } from './ingress-controller.ts';

describe('ensureIngressController', () => {
  const saved = { ...process.env };
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvsync-ingress-'));
  });
  afterEach(async () => {
    process.env = { ...saved };
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the pinned Traefik 3 version from the wrapper module', async () => {
    expect(await pinnedTraefikVersion()).toMatch(/^v3\.\d+\.\d+$/);
  });

  it('says how to install Go when there is none', async () => {
    process.env.PATH = dir; // an empty folder: no `go`
    const err = await ensureIngressController().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as ControlPlaneError).reason).toBe('GoMissing');
    expect((err as Error).message).toMatch(/\(Traefik v3\.\d+\.\d+\) is built from its Go module\. Install Go >= 1\.26/);
  });
});

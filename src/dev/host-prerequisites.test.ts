import { describe, expect, it } from 'vitest';
import { ControlPlaneError } from './errors.ts';
import { requireHost } from './host-prerequisites.ts';

describe('requireHost', () => {
  it('names every missing Debian package once, in one apt-get line', async () => {
    const err = await requireHost('a local node', [
      { file: 'kvsync-no-such-program-a', debianPackage: 'pkg-a' },
      { file: '/nonexistent/kvsync-b', debianPackage: 'pkg-b' },
      { file: 'kvsync-no-such-program-c', debianPackage: 'pkg-a' },
      { file: 'sh', debianPackage: 'dash' },
    ], true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as ControlPlaneError).reason).toBe('HostPrerequisiteMissing');
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message).toMatch(/apt-get install -y --no-install-recommends pkg-a pkg-b$/);
  });

  it('resolves programs to absolute paths', async () => {
    const found = await requireHost('x', [{ file: 'sh', debianPackage: 'dash' }], true);
    expect(found.sh).toMatch(/^\/.*\/sh$/);
  });

  it('says it needs root first', async () => {
    const err = await requireHost('a local node', [], false).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/needs root/);
  });
});

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildIntoCache, buildLogPath } from './go-toolchain.ts';

describe('buildIntoCache', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'kvsync-build-cache-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('renames a complete build into place with its manifest and log, leaving no temporary folder', async () => {
    const dir = join(root, 'tools', 'tool-v1-abc');
    await buildIntoCache(dir, { version: 'v1' }, async (tmp, logFile) => {
      logFile.write('compiling\n');
      await writeFile(join(tmp, 'tool'), 'binary');
    });
    expect(readFileSync(join(dir, 'tool'), 'utf8')).toBe('binary');
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toMatchObject({ version: 'v1' });
    expect(existsSync(buildLogPath(dir))).toBe(true);
    expect(readdirSync(join(root, 'tools')).filter((n) => n.startsWith('.build-'))).toEqual([]);
  });

  it('leaves nothing at the destination when a step fails, and rethrows its error', async () => {
    const dir = join(root, 'tools', 'tool-v1-abc');
    const failure = new Error('go build failed');
    await expect(buildIntoCache(dir, {}, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(root, 'tools')).filter((n) => n.startsWith('.build-'))).toEqual([]);
  });

  it('keeps the build of a process that finished first', async () => {
    const dir = join(root, 'tools', 'tool-v1-abc');
    await buildIntoCache(dir, {}, async (tmp) => {
      // Another process renames its complete build into place while this one is still building.
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'tool'), 'theirs');
      await writeFile(join(tmp, 'tool'), 'ours');
    });
    expect(readFileSync(join(dir, 'tool'), 'utf8')).toBe('theirs');
  });
});

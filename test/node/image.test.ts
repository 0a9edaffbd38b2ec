/**
 * The image built from the Dockerfile by the container engine: it holds the production build only
 * (no devDependency, no emulator, dev or test code, no sources), has no shell, and runs on the node
 * as non-root with a read-only root filesystem.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createNamespace, deleteNamespace, imageFiles, imageRef, kubeConfig, RESTRICTED, runPodToCompletion } from './support.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
let namespace = '';
let files = new Set<string>();
let config: Awaited<ReturnType<typeof imageFiles>>['config'] = {};

beforeAll(async () => {
  namespace = await createNamespace(kc, 'image');
  ({ files, config } = await imageFiles(inject('imageArchive')));
});
afterAll(async () => {
  await deleteNamespace(kc, namespace);
});

describe('the kvsync image', () => {
  it('holds in /app only package.json, bin/, dist/ and the production node_modules/', () => {
    const top = new Set([...files].filter((f) => f.startsWith('app/')).map((f) => f.split('/')[1]).filter((n) => n !== ''));
    expect([...top].sort()).toEqual(['bin', 'dist', 'node_modules', 'package.json']);
    expect(files.has('app/dist/cli.js')).toBe(true);
    expect(files.has('nodejs/bin/node')).toBe(true);
    expect(files.has('usr/local/bin/kvsync')).toBe(true);
  });

  it('holds no devDependency, no emulator, dev or test code and no TypeScript sources', async () => {
    const lock = JSON.parse(await readFile(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devPackages = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => `app/${path}/`);
    expect(devPackages.length).toBeGreaterThan(0);
    expect(devPackages.filter((p) => files.has(p))).toEqual([]);
    const appFiles = [...files].filter((f) => f.startsWith('app/dist/') || f.startsWith('app/bin/'));
    const forbidden = appFiles.filter((f) =>
      /^app\/dist\/(emulator|dev)\//.test(f) || /\.test\.js(\.map)?$/.test(f) || /(^|\/)(testing|test-fixtures)[/.]/.test(f) || f.endsWith('.ts'));
    expect(forbidden).toEqual([]);
    expect([...files].filter((f) => f.startsWith('app/src/') || f.startsWith('app/test/'))).toEqual([]);
  });

  it('has no shell and runs as 65532 with the kvsync entrypoint', () => {
    expect(['bin/sh', 'bin/bash', 'bin/dash', 'usr/bin/sh', 'usr/bin/bash', 'usr/bin/dash'].filter((s) => files.has(s))).toEqual([]);
    expect(config.config?.User).toBe('65532:65532');
    expect(config.config?.Entrypoint).toEqual(['/nodejs/bin/node', '/app/bin/kvsync.js']);
  });

  it('runs on the node as non-root with a read-only root filesystem', async () => {
    const log = await runPodToCompletion(kc, namespace, {
      metadata: { name: 'help' },
      spec: { containers: [{ name: 'kvsync', image: imageRef(), imagePullPolicy: 'Never', args: ['--help'], securityContext: RESTRICTED }] },
    });
    expect(log).toMatch(/controller/);
    expect(log).toMatch(/mount/);
  });
});

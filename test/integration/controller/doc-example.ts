/**
 * A docs/api.md worked example as the tests use it: found by a field it shows, applied to the test's
 * namespace exactly as written otherwise, and rendered with `kvsync render` (spawned, as a user runs it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { pageExamples } from '../../../src/api/testing/doc-examples.ts';

const repo = join(import.meta.dirname, '..', '..', '..');

/** The first kvsync object of docs/api.md whose spec uses the field `field`. */
export function apiExample(field: string): Record<string, unknown> {
  const obj = pageExamples('api.md').flatMap((e) => e.objects).find((o) => JSON.stringify(o).includes(`"${field}"`));
  if (obj === undefined) throw new Error(`docs/api.md has no kvsync example with ${field}`);
  return obj;
}

/** Creates the example in `namespace` (its only change), with strict field validation. */
export async function applyExample(kc: k8s.KubeConfig, namespace: string, obj: Record<string, unknown>): Promise<void> {
  const metadata = { ...(obj.metadata as Record<string, unknown>), namespace };
  await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', body: { ...obj, metadata }, fieldValidation: 'Strict' });
}

/** `kvsync render` of the example against the emulator: the Secrets it prints, data decoded. */
export async function renderExample(obj: Record<string, unknown>, endpointsFile: string): Promise<Map<string, Record<string, string>>> {
  const file = join(await mkdtemp(join(tmpdir(), 'kvsync-example-')), 'example.yaml');
  await writeFile(file, JSON.stringify(obj));
  const stdout = await new Promise<string>((resolve, reject) => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    execFile(process.execPath, [join(repo, 'src', 'cli.ts'), 'render', '-f', file, '--azure-endpoints', endpointsFile, '--show-values'], { cwd: repo, env, encoding: 'utf8', timeout: 60_000 }, (err, out, stderr) =>
      err === null ? resolve(out) : reject(new Error(`kvsync render failed: ${stderr}`)),
    );
  });
  const out = new Map<string, Record<string, string>>();
  for (const d of parseAllDocuments(stdout).map((doc) => doc.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> })) {
    if (d.kind === 'Secret') out.set(d.metadata?.name ?? '', Object.fromEntries(Object.entries(d.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])));
  }
  return out;
}

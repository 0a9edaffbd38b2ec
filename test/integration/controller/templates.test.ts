/**
 * Secret templates end to end: the worked example of docs/api.md applied as written (only its namespace
 * is the test's) on the real apiserver, synced by the controller from the emulator, and printed by
 * `kvsync render`; then a changed value re-renders the template on the next sync.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { pageExamples } from '../../../src/api/testing/doc-examples.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { conditionOf, startOperatorFixture, syncApi, type OperatorFixture } from './support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const syncs = syncApi(kc);
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
const repo = join(import.meta.dirname, '..', '..', '..');
/** The values docs/api.md describes the example with. */
const USER = 'app@shop';
const PASSWORD = 'p@ss w/rd"1';
const EXPECTED = {
  PGPASSWORD: PASSWORD,
  DATABASE_URL: 'postgres://app%40shop:p%40ss%20w%2Frd%221@db.shop.svc:5432/shop?sslmode=require',
  'config.json': '{"user": "app@shop", "password": "p@ss w/rd\\"1"}\n',
};
let fx: OperatorFixture;

/** The docs/api.md example with templates. */
function example(): Record<string, unknown> {
  const ex = pageExamples('api.md').find((e) => e.objects.some((o) => JSON.stringify(o).includes('"templates"')));
  const obj = ex?.objects[0];
  if (obj === undefined) throw new Error('docs/api.md has no kvsync example with templates');
  return obj;
}

async function secretData(name: string): Promise<Record<string, string> | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace: fx.ns, name });
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  fx = await startOperatorFixture(kc, 'ctl-tpl');
  const kv = clientsFor(fx.world.emu).secrets;
  await kv.setSecret('db-user', USER);
  await kv.setSecret('db-password', PASSWORD);
});

afterAll(async () => {
  await fx?.stop();
});

describe('Secret templates', () => {
  it('the docs/api.md example, applied as written, gives the documented Secret', async () => {
    const obj = example();
    const metadata: Record<string, unknown> = { ...(obj.metadata as Record<string, unknown>), namespace: fx.ns };
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: fx.ns, plural: 'keyvaultsyncs', body: { ...obj, metadata }, fieldValidation: 'Strict' });
    const data = await pollUntil(async () => {
      const d = await secretData('app-db');
      return d?.DATABASE_URL === undefined ? undefined : d;
    }, { ...WAIT, description: 'Secret app-db' });
    expect(data).toEqual(EXPECTED);
    expect(conditionOf(await syncs.get(fx.ns, String(metadata.name)), 'Ready')?.status).toBe('True');
  });

  it('kvsync render prints the same Secret for the example', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-tpl-'));
    const file = join(dir, 'example.yaml');
    await writeFile(file, JSON.stringify(example()));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [join(repo, 'src', 'cli.ts'), 'render', '-f', file, '--azure-endpoints', fx.world.endpointsFile, '--show-values'], { cwd: repo, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, encoding: 'utf8', timeout: 60_000 }, (err, out, stderr) =>
        err === null ? resolve(out) : reject(new Error(`render failed: ${stderr}`)),
      );
    });
    const secret = parseAllDocuments(stdout).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> }).find((d) => d.kind === 'Secret' && d.metadata?.name === 'app-db');
    const data = Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    expect(data).toEqual(EXPECTED);
  });

  it('a new value of a named object re-renders the template on the next sync', async () => {
    await clientsFor(fx.world.emu).secrets.setSecret('db-password', 'rotated+1');
    await syncs.patch(fx.ns, 'app-db', { metadata: { annotations: { 'kvsync.dev/force-sync': String(Date.now()) } } });
    const data = await pollUntil(async () => {
      const d = await secretData('app-db');
      return d?.PGPASSWORD === 'rotated+1' ? d : undefined;
    }, { ...WAIT, description: 'rotated Secret app-db' });
    expect(data.DATABASE_URL).toBe('postgres://app%40shop:rotated%2B1@db.shop.svc:5432/shop?sslmode=require');
    expect(data['config.json']).toBe('{"user": "app@shop", "password": "rotated+1"}\n');
  });
});

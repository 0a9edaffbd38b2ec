/**
 * Secret templates end to end: the worked example of docs/api.md applied as written (only its namespace
 * is the test's) on the real apiserver, synced by the controller from the emulator, and printed by
 * `kvsync render`; then a changed value re-renders the template on the next sync.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { apiExample, applyExample, renderExample } from './doc-example.ts';
import { readyCondition, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from './support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const syncs = syncApi(kc);
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
/** The values docs/api.md describes the example with. */
const USER = 'app@shop';
const PASSWORD = 'p@ss w/rd"1';
const EXPECTED = {
  PGPASSWORD: PASSWORD,
  DATABASE_URL: 'postgres://app%40shop:p%40ss%20w%2Frd%221@db.shop.svc:5432/shop?sslmode=require',
  'config.json': '{"user": "app@shop", "password": "p@ss w/rd\\"1"}\n',
};
let fx: OperatorFixture;

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
    await applyExample(kc, fx.ns, apiExample('templates'));
    const data = await pollUntil(async () => {
      const d = await secretData('app-db');
      return d?.DATABASE_URL === undefined ? undefined : d;
    }, { ...WAIT, description: 'Secret app-db' });
    expect(data).toEqual(EXPECTED);
    // The status is written after the Secret: on a busy machine it may not be there yet.
    await readyCondition(kc, fx.ns, 'app-db', 'True');
  });

  it('kvsync render prints the same Secret for the example', async () => {
    expect((await renderExample(apiExample('templates'), fx.world.endpointsFile)).get('app-db')).toEqual(EXPECTED);
  });

  it('a value json-string cannot encode fails the sync as TemplateFailed, counted by reason on /metrics, and writes nothing', async () => {
    const kv = clientsFor(fx.world.emu).secrets;
    await kv.setSecret('raw-bytes', Buffer.from([0xff, 0xfe, 0x00]).toString('base64'));
    await syncs.create(
      fx.ns,
      'bad-tpl',
      syncSpec(fx.world, {
        objects: [{ name: 'raw-bytes', alias: 'raw', encoding: 'base64' }],
        secretObjects: [{ secretName: 'bad-tpl', templates: [{ key: 'config.json', template: '{"v": {{ raw | json-string }}}' }] }],
      }),
    );
    const ready = await readyCondition(kc, fx.ns, 'bad-tpl', 'False');
    expect(ready.reason).toBe('TemplateFailed');
    const text = await (await fetch(`http://${fx.controller.healthAddress ?? ''}/metrics`)).text();
    const failures = Number(text.split('\n').find((l) => l.startsWith('kvsync_template_failures_total{reason="not_text"}'))?.split(' ').pop());
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('raw-bytes');
    expect(await secretData('bad-tpl')).toBeUndefined();
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

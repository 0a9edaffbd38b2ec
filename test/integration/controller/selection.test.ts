/**
 * Object selectors end to end: the worked example of docs/api.md applied as written (only its namespace
 * is the test's) on the real apiserver against the emulator; a secret appearing and one disappearing
 * change the Secret on the next refresh; steady refreshes cost list pages only (emulator counters);
 * `kvsync render` expands the selectors the same way.
 */
import { X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { admin, clientsFor, countOf, requestCounts, VAULT } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { apiExample, applyExample, renderExample } from './doc-example.ts';
import { readyCondition, startOperatorFixture, type OperatorFixture } from './support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };
const SHOP = { team: 'shop' };
let fx: OperatorFixture;

async function keys(): Promise<Record<string, string> | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace: fx.ns, name: 'shop-config' });
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  } catch {
    return undefined;
  }
}

/** `kvsync_selected_objects` of shop-config on the controller's /metrics. */
async function selectedObjects(): Promise<number | undefined> {
  const text = await (await fetch(`http://${fx.controller.healthAddress ?? ''}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`kvsync_selected_objects{namespace="${fx.ns}",keyvaultsync="shop-config"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function selectedBecome(count: number): Promise<void> {
  await pollUntil(async () => ((await selectedObjects()) === count ? true : undefined), { ...WAIT, description: `kvsync_selected_objects ${count}` });
}

async function keysBecome(expected: string[]): Promise<Record<string, string>> {
  return pollUntil(async () => {
    const d = await keys();
    return d !== undefined && JSON.stringify(Object.keys(d).sort()) === JSON.stringify(expected) ? d : undefined;
  }, { ...WAIT, description: `shop-config keys ${expected.join(', ')}` });
}

beforeAll(async () => {
  fx = await startOperatorFixture(kc, 'ctl-sel');
  const kv = clientsFor(fx.world.emu);
  await kv.secrets.setSecret('shop-db', 'db-pw', { tags: SHOP });
  await kv.secrets.setSecret('shop-api', 'api-key', { tags: SHOP });
  await kv.secrets.setSecret('shop-internal', 'not-tagged');
  const created = await kv.certificates.beginCreateCertificate(
    'shop-web',
    { issuerName: 'ControllerTestCA', subject: 'CN=web.shop.example', subjectAlternativeNames: { dnsNames: ['web.shop.example'] }, validityInMonths: 6 },
    { tags: SHOP, intervalInMs: 50 },
  );
  await created.pollUntilDone();
});

afterAll(async () => {
  await fx?.stop();
});

describe('object selectors', () => {
  it('the docs/api.md example, applied as written, selects the tagged secrets and certificate under the documented keys', async () => {
    await applyExample(kc, fx.ns, apiExample('select'));
    const data = await keysBecome(['shop-api', 'shop-db', 'tls.shop-web.pem']);
    expect(data['shop-db']).toBe('db-pw');
    expect(data['shop-api']).toBe('api-key');
    const pem = data['tls.shop-web.pem'] ?? '';
    expect(pem).toContain('PRIVATE KEY');
    expect(new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----'))).subject).toBe('CN=web.shop.example');
    await readyCondition(kc, fx.ns, 'shop-config', 'True');
    // What an operator on call sees: the three matched objects, as a count (no object names in labels).
    await selectedBecome(3);
  });

  it('a secret that appears, and one that disappears, change the Secret on the next refresh', async () => {
    const kv = clientsFor(fx.world.emu).secrets;
    await kv.setSecret('shop-new', 'fresh', { tags: SHOP });
    expect((await keysBecome(['shop-api', 'shop-db', 'shop-new', 'tls.shop-web.pem']))['shop-new']).toBe('fresh');
    await selectedBecome(4);
    await (await kv.beginDeleteSecret('shop-api', { intervalInMs: 50 })).pollUntilDone();
    await keysBecome(['shop-db', 'shop-new', 'tls.shop-web.pem']);
    await selectedBecome(3);
  });

  it('steady cycles cost list pages only: no value is read again', async () => {
    // Past the one-time verification of reads made in the second of a version's creation, then count.
    await new Promise((r) => setTimeout(r, 12_000));
    expect((await admin(fx.world.emu, 'DELETE', '/requests')).status).toBe(204);
    // Two listings of the vault (two change-detection cycles, each a chance for a refresh) after the reset.
    await pollUntil(async () => (countOf(await requestCounts(fx.world.emu), 'listSecrets', 200) >= 2 ? true : undefined), { timeoutMs: 40_000, intervalMs: 250, description: 'two listings' });
    const all = await requestCounts(fx.world.emu);
    expect(all.filter((c) => c.vault === VAULT && c.operation !== 'listSecrets' && c.count > 0)).toEqual([]);
    expect(Object.keys((await keys()) ?? {}).sort()).toEqual(['shop-db', 'shop-new', 'tls.shop-web.pem']);
  });

  it('kvsync render expands the selectors the same way', async () => {
    const secret = (await renderExample(apiExample('select'), fx.world.endpointsFile)).get('shop-config');
    expect(Object.keys(secret ?? {}).sort()).toEqual(['shop-db', 'shop-new', 'tls.shop-web.pem']);
  });
});

/**
 * Threat: anyone who can read a KeyVaultSync's status tests guesses of another tenant's secret value.
 * The tenant puts a guess into a vault object of their own, lets kvsync write it into a Secret of
 * their own namespace, and compares the `dataMAC` of that Secret with the victim's: with a MAC over
 * the data alone under the operator's one key, equal MACs confirm the guess. Defence: the MAC binds
 * the namespace, the Secret's name and its type (src/controller/mac.ts), so the same data anywhere
 * else has an unrelated MAC. Also: a status an earlier release wrote (data-only MACs) is no change
 * after the upgrade: no workload is rolled, and the next sync rewrites the MAC in the bound form.
 *
 * Two controllers, one per tenant namespace, share one MAC key, as one operator serving both would.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import type { RunningController } from '../../src/controller/controller.ts';
import { FORCE_SYNC_ANNOTATION } from '../../src/controller/labels.ts';
import { MAC_KEY_SECRET } from '../../src/controller/mac.ts';
import { RESTARTED_FOR_ANNOTATION } from '../../src/controller/rollouts.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, createCredentialsSecret, runController, startWorld, syncApi, syncSpec, type TestWorld } from '../integration/controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';

const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const syncs = syncApi(kc);
/** The operator's one MAC key, as both controllers load it. */
const MAC_KEY = randomBytes(32);

let world: TestWorld;
const namespaces: string[] = [];
const controllers: RunningController[] = [];
let victimNs = '';
let attackerNs = '';

async function tenant(prefix: string): Promise<string> {
  const ns = await createTestNamespace(kc, prefix);
  const opNs = await createTestNamespace(kc, `${prefix}-op`);
  namespaces.push(ns, opNs);
  await core.createNamespacedSecret({ namespace: opNs, body: { metadata: { name: MAC_KEY_SECRET }, data: { key: MAC_KEY.toString('base64') } } });
  await createCredentialsSecret(kc, ns, world);
  controllers.push(await runController(kc, world, { namespace: opNs, watchNamespace: ns }));
  return ns;
}

async function ready(namespace: string, name: string): Promise<Map<string, string>> {
  const obj = await pollUntil(
    async () => {
      const o = await syncs.get(namespace, name);
      return conditionOf(o, 'Ready')?.status === 'True' && o.status?.observedGeneration === o.metadata?.generation ? o : undefined;
    },
    { ...WAIT, description: `${namespace}/${name} Ready` },
  );
  return new Map((obj.status?.secrets ?? []).map((s) => [s.name, s.dataMAC ?? '']));
}

const secretData = async (namespace: string, name: string): Promise<Record<string, string> | undefined> => (await core.readNamespacedSecret({ namespace, name })).data;

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  victimNs = await tenant('sec-mac-victim');
  attackerNs = await tenant('sec-mac-attacker');
});

afterAll(async () => {
  for (const c of controllers) await c.stop();
  await world?.emu.stop();
  for (const ns of namespaces) await deleteTestNamespace(kc, ns);
});

describe('threat: testing guesses of another tenant\'s value through status dataMAC', () => {
  it('the same data in another namespace, under another Secret name or type, has another MAC', async () => {
    const password = [{ objectName: 'db-password', key: 'password' }];
    await syncs.create(
      victimNs,
      'payroll',
      syncSpec(world, {
        objects: [{ name: 'db-password', type: 'secret' }],
        secretObjects: [
          { secretName: 'db', type: 'Opaque', data: password },
          { secretName: 'db-copy', type: 'Opaque', data: password },
          { secretName: 'db-auth', type: 'kubernetes.io/basic-auth', data: password },
        ],
      }),
    );
    // The attacker's guess is right: their Secret holds exactly the victim's data, under the same name.
    await syncs.create(attackerNs, 'guess', syncSpec(world, { objects: [{ name: 'db-password', type: 'secret' }], secretObjects: [{ secretName: 'db', type: 'Opaque', data: password }] }));
    const victim = await ready(victimNs, 'payroll');
    const attacker = await ready(attackerNs, 'guess');

    expect(await secretData(attackerNs, 'db')).toEqual(await secretData(victimNs, 'db'));
    expect(await secretData(victimNs, 'db-copy')).toEqual(await secretData(victimNs, 'db'));
    const macs = [victim.get('db'), victim.get('db-copy'), victim.get('db-auth'), attacker.get('db')];
    for (const m of macs) expect(m).toMatch(/^hmac-sha256-v2:[0-9a-f]{64}$/);
    expect(new Set(macs).size).toBe(4);
  });

  it('after an upgrade from data-only MACs, unchanged data is no change: nothing is rolled and the MAC is rewritten bound', async () => {
    await apps.createNamespacedDeployment({
      namespace: victimNs,
      body: {
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] } } },
      },
    });
    await syncs.create(
      victimNs,
      'upgraded',
      syncSpec(world, { objects: [{ name: 'api-token', type: 'secret' }], secretObjects: [{ secretName: 'api', type: 'Opaque', data: [{ objectName: 'api-token', key: 'token' }] }], restartTargets: [{ kind: 'Deployment', name: 'web' }] }),
    );
    await ready(victimNs, 'upgraded');
    const before = await syncs.get(victimNs, 'upgraded');

    // What a release before the binding wrote: HMAC over the length-prefixed (key, value) pairs only.
    const len = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return b;
    };
    const token = Buffer.from((await secretData(victimNs, 'api'))?.token ?? '', 'base64');
    const legacy = `hmac-sha256:${createHmac('sha256', MAC_KEY).update(len(5)).update('token').update(len(token.length)).update(token).digest('hex')}`;
    await custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: victimNs, name: 'upgraded', body: { status: { secrets: [{ name: 'api', dataMAC: legacy }] } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await syncs.patch(victimNs, 'upgraded', { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: 'after-upgrade' } } });
    const after = await pollUntil(
      async () => {
        const o = await syncs.get(victimNs, 'upgraded');
        return o.status?.lastSyncTime !== before.status?.lastSyncTime && conditionOf(o, 'Ready')?.status === 'True' ? o : undefined;
      },
      { ...WAIT, description: 'upgraded synced again after the force-sync' },
    );

    expect(after.status?.secrets).toEqual([{ name: 'api', dataMAC: before.status?.secrets?.[0]?.dataMAC }]);
    expect(after.status?.secrets?.[0]?.dataMAC).toMatch(/^hmac-sha256-v2:/);
    const web = await apps.readNamespacedDeployment({ namespace: victimNs, name: 'web' });
    expect(web.spec?.template.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION]).toBeUndefined();
    const events = await core.listNamespacedEvent({ namespace: victimNs, fieldSelector: 'involvedObject.name=upgraded' });
    expect(events.items.map((e) => e.reason)).not.toContain('RolledOut');
  });
});

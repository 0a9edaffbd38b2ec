/**
 * Drift repair on the real control plane and emulator: rotations of a Key Vault secret, each written
 * by the controller, never count as a change made out of band (kvsync_drift_repairs_total stays 0),
 * while an edit by someone else is repaired and counted.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from './support.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 100 };
const ROTATIONS = 15;

/** The value of `kvsync_drift_repairs_total{cause}` in the controller's scrape (0 when absent). */
async function repairs(fixture: OperatorFixture, cause: 'changed' | 'deleted'): Promise<number> {
  const { body } = await fixture.controller.metrics.scrape();
  const line = body.split('\n').find((l) => l.startsWith(`kvsync_drift_repairs_total{cause="${cause}"}`));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('drift repair on the real control plane and emulator', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const syncs = syncApi(kc);
  let fixture: OperatorFixture;

  const secretValue = async (): Promise<string | undefined> => {
    const s = await core.readNamespacedSecret({ name: 'web-db', namespace: fixture.ns }).catch(() => undefined);
    const v = s?.data?.PASSWORD;
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString();
  };

  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'drift');
  });

  afterAll(async () => {
    await fixture.stop();
  });

  it(`repairs nothing across ${ROTATIONS} rotations, each written by kvsync`, async () => {
    const vault = clientsFor(fixture.world.emu).secrets;
    await syncs.create(fixture.ns, 'web', syncSpec(fixture.world, {
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName: 'web-db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'PASSWORD' }] }],
    }));
    await pollUntil(async () => ((await secretValue()) === 'correct-horse-battery-staple' ? true : undefined), { ...WAIT, description: 'web-db written' });
    for (let i = 1; i <= ROTATIONS; i++) {
      const value = `rotated-${i}`;
      await vault.setSecret('db-password', value);
      await syncs.patch(fixture.ns, 'web', { metadata: { annotations: { 'kvsync.dev/force-sync': String(i) } } });
      await pollUntil(async () => ((await secretValue()) === value ? true : undefined), { ...WAIT, description: `web-db holds rotation ${i}` });
    }
    // Every rotation's status written: any watch event of the last write has been seen by then.
    await pollUntil(async () => {
      const o = await syncs.get(fixture.ns, 'web');
      return conditionOf(o, 'Ready')?.status === 'True' && (o.status?.secrets?.length ?? 0) > 0 && o.metadata?.annotations?.['kvsync.dev/force-sync'] === String(ROTATIONS) ? true : undefined;
    }, { ...WAIT, description: 'web Ready after the last rotation' });
    expect(await repairs(fixture, 'changed')).toBe(0);
    expect(await repairs(fixture, 'deleted')).toBe(0);
  });

  // Events of one watch come in order: the repair of this edit is seen only after every rotation's
  // event was handled, so exactly 1 also proves that no rotation was counted late.
  it('repairs and counts an edit made by someone else, and only that', async () => {
    const before = await secretValue();
    await core.patchNamespacedSecret(
      { name: 'web-db', namespace: fixture.ns, body: { data: { PASSWORD: Buffer.from('tampered').toString('base64') } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await pollUntil(async () => ((await secretValue()) === before ? true : undefined), { ...WAIT, description: 'web-db repaired' });
    expect(await repairs(fixture, 'changed')).toBe(1);
  });
});

/**
 * Threat: a tenant makes one KeyVaultSync cost the controller (and the vault's shared request budget)
 * without bound. The CRD schema caps `spec.objects` at 64, but the CSI form's `parameters.objects` is
 * a YAML string the apiserver cannot count: 700 objects, or 440 objects × `objectVersionHistory: 100`
 * (44,000 reads per sync), passed.
 *
 * Defence: the same bounds for every input form (src/api/parse.ts, csi-parameters.ts): at most 64
 * objects and 256 object versions read per sync, refused as InvalidSpec with kvsync's own text before
 * anything is read. Checked on the real apiserver with the controller and the emulator's request
 * counters: no Key Vault request is made for such a KeyVaultSync.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../src/util/poll.ts';
import { admin, requestCounts } from '../integration/emulator/kv-support.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type ConditionView, type OperatorFixture } from '../integration/controller/support.ts';
import { kubeConfig } from '../integration/support/kube.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };

/** A CSI `parameters.objects` string listing `count` secrets (the compact mapping form keeps it under 32 KiB). */
function csiObjects(count: number, extra = ''): string {
  return `array:\n${Array.from({ length: count }, (_, i) => `- {objectName: s${i}, objectType: secret${extra}}`).join('\n')}\n`;
}

describe('threat: one KeyVaultSync reads without bound', () => {
  const kc = kubeConfig();
  const syncs = syncApi(kc);
  let fixture: OperatorFixture;

  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'sec-limits');
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  const invalid = (name: string): Promise<ConditionView> =>
    pollUntil(
      async () => {
        const ready = conditionOf(await syncs.get(fixture.ns, name), 'Ready');
        return ready?.status === 'False' && ready.reason === 'InvalidSpec' ? ready : undefined;
      },
      { ...WAIT, description: `KeyVaultSync ${name} Ready=False InvalidSpec` },
    );

  it('700 CSI objects, 440 × objectVersionHistory 100, and 60 × versionHistory 100 are refused as InvalidSpec without a Key Vault request', async () => {
    const { ns, world } = fixture;
    expect((await admin(world.emu, 'DELETE', '/requests')).status).toBe(204);
    const keyVaultName = 'devkv';
    await syncs.create(ns, 'csi-700', syncSpec(world, { parameters: { keyvaultName: keyVaultName, objects: csiObjects(700) } }));
    await syncs.create(ns, 'csi-440x100', syncSpec(world, { parameters: { keyvaultName: keyVaultName, objects: csiObjects(440, ', objectVersionHistory: "100"') } }));
    await syncs.create(ns, 'typed-60x100', syncSpec(world, { objects: Array.from({ length: 60 }, (_, i) => ({ name: `s${i}`, type: 'secret', versionHistory: 100 })) }));

    expect((await invalid('csi-700')).message).toContain('lists 700 objects; a KeyVaultSync may have at most 64');
    expect((await invalid('csi-440x100')).message).toContain('lists 440 objects; a KeyVaultSync may have at most 64');
    expect((await invalid('typed-60x100')).message).toContain('would read 6000 object versions per sync (objects × versionHistory); a KeyVaultSync may read at most 256');
    expect(await requestCounts(world.emu)).toEqual([]);
  });
});

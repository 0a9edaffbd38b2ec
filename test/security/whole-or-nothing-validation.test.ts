/**
 * Threat: a KeyVaultSync whose second Secret the apiserver refuses (a data key "." or "..", a key from
 * a vault document that is not a Secret key, an invalid label key, annotations over 256 KiB) had its
 * first Secret written before the refusal: half an update, which workloads then read. Defence: what the
 * apiserver would refuse is refused by the CRD schema or before the first write (parseKeyVaultSync for
 * the spec, renderOutputs for keys from the vault: src/api/kube-names.ts), so nothing is written.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../src/util/poll.ts';
import { readyCondition, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from '../integration/controller/support.ts';
import { clientsFor } from '../integration/emulator/kv-support.ts';
import { kubeConfig, statusOf } from '../integration/support/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const syncs = syncApi(kc);
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
let fx: OperatorFixture;

async function secretExists(name: string): Promise<boolean> {
  try {
    await core.readNamespacedSecret({ namespace: fx.ns, name });
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

/** Two Secrets: a valid first one, and a second one changed by `second`. */
function twoSecrets(second: Record<string, unknown>, objects: Record<string, unknown>[] = []): Record<string, unknown> {
  return syncSpec(fx.world, {
    objects: [{ name: 'db-password' }, ...objects],
    secretObjects: [
      { secretName: 'first', data: [{ objectName: 'db-password', key: 'value' }] },
      { secretName: 'second', data: [{ objectName: 'db-password', key: 'value' }], ...second },
    ],
  });
}

function refused(name: string): Promise<{ reason: string; message: string }> {
  return readyCondition(kc, fx.ns, name, 'False');
}

beforeAll(async () => {
  fx = await startOperatorFixture(kc, 'sec-won');
  await clientsFor(fx.world.emu).secrets.setSecret('doc', JSON.stringify({ user: 'app', '..': 'dot-dot' }));
});

afterAll(async () => {
  await fx?.stop();
});

describe('a KeyVaultSync never half-updates its Secrets', () => {
  it('control: two valid Secrets are both written', async () => {
    await syncs.create(fx.ns, 'control', syncSpec(fx.world, { objects: [{ name: 'db-password' }], secretObjects: [{ secretName: 'control-a', data: [{ objectName: 'db-password', key: 'value' }] }, { secretName: 'control-b', data: [{ objectName: 'db-password', key: 'value' }] }] }));
    await pollUntil(async () => ((await secretExists('control-a')) && (await secretExists('control-b')) ? true : undefined), { ...WAIT, description: 'both control Secrets' });
  });

  it('the CRD refuses data keys and output names "." and ".."', async () => {
    for (const spec of [twoSecrets({ data: [{ objectName: 'db-password', key: '..' }] }), twoSecrets({}, [{ name: 'api-token', alias: '.' }])]) {
      const err: unknown = await syncs.create(fx.ns, 'dots', spec).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(statusOf(err)).toBe(422);
    }
  });

  it('a key from a vault document that is no Secret key fails the whole KeyVaultSync before the first write', async () => {
    await syncs.create(fx.ns, 'split', twoSecrets({ data: [{ objectName: 'doc' }] }, [{ name: 'doc', split: 'json' }]));
    const c = await refused('split');
    expect(c.reason).toBe('InvalidSpec');
    expect(c.message).toContain('cannot be a Secret key');
    expect(c.message).not.toContain('dot-dot');
    expect(await secretExists('first')).toBe(false);
    expect(await secretExists('second')).toBe(false);
  });

  it('labels and annotations the apiserver would refuse fail the whole KeyVaultSync before the first write', async () => {
    const bigAnnotations = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`example.com/a${i}`, 'x'.repeat(8000)]));
    for (const [name, second, path] of [
      ['bad-label', { labels: { 'bad key': 'x' } }, 'spec.secretObjects[1].labels'],
      ['big-annotations', { annotations: bigAnnotations }, 'spec.secretObjects[1].annotations'],
    ] as const) {
      await syncs.create(fx.ns, name, twoSecrets(second));
      const c = await refused(name);
      expect(c.reason).toBe('InvalidSpec');
      expect(c.message).toContain(path);
    }
    expect(await secretExists('first')).toBe(false);
    expect(await secretExists('second')).toBe(false);
  });
});

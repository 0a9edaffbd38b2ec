/**
 * Threat: a tenant stores PKCS#12 files whose key derivation is as expensive as the iteration limits
 * allow (about a second of CPU each, several per KeyVaultSync). Decoded on the controller's event
 * loop, each would hold the loop for its whole duration: lease renewal, admission reviews and health
 * probes of every tenant would wait.
 *
 * Defence: certificates are decoded in a worker thread (src/pki/decode-pool.ts). Measured here on the
 * real apiserver and the emulator: while the hostile KeyVaultSync's PFX objects are decoded (the
 * controller reports them decoded), the event loop's longest delay stays well below the time one such
 * decode takes (measured beforehand in this process), /healthz keeps answering, and a healthy
 * KeyVaultSync created after the hostile one becomes Ready.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFromKeyVaultSecret, CONTENT_TYPE_PKCS12 } from '../../src/pki/bundle.ts';
import { writePfx } from '../../src/pki/pfx-writer.ts';
import { makeChain } from '../../src/pki/test-fixtures.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { clientsFor } from '../integration/emulator/kv-support.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from '../integration/controller/support.ts';
import { kubeConfig } from '../integration/support/kube.ts';

const HOSTILE_OBJECTS = 3;
/** Five derivations (MAC; key and IV for the certificate bag and for the key bag) of this many iterations: just under the total limit. */
const ITERATIONS = 59_000;
const WAIT = { timeoutMs: 45_000, intervalMs: 100 };

describe('threat: a high-iteration PFX blocks the controller for every tenant', () => {
  const kc = kubeConfig();
  const syncs = syncApi(kc);
  let fixture: OperatorFixture;
  let pfxBase64 = '';
  let oneDecodeMs = 0;

  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'sec-pfxloop');
    const chain = await makeChain('RSA', 'expensive');
    pfxBase64 = writePfx([chain.leaf.certDer, chain.intermediate.certDer], chain.leaf.key.export({ format: 'der', type: 'pkcs8' }), { password: null, iterations: ITERATIONS }).toString('base64');
    // What one decode costs on this machine, right now, when it runs on an event loop.
    const started = performance.now();
    bundleFromKeyVaultSecret(pfxBase64, CONTENT_TYPE_PKCS12);
    oneDecodeMs = performance.now() - started;
    const vault = clientsFor(fixture.world.emu);
    for (let i = 0; i < HOSTILE_OBJECTS; i++) await vault.secrets.setSecret(`expensive-${i}`, pfxBase64, { contentType: CONTENT_TYPE_PKCS12 });
  }, 300_000);

  afterAll(async () => {
    await fixture?.stop();
  });

  const decodedSoFar = async (): Promise<number> => {
    const metric = await fixture.controller.metrics.registry.getSingleMetric('kvsync_certificate_decodes_total')?.get();
    return metric?.values.filter((v) => v.labels.result === 'decoded').reduce((n, v) => n + v.value, 0) ?? 0;
  };

  it('decodes off the event loop: the loop and /healthz stay responsive, and a healthy KeyVaultSync becomes Ready', async () => {
    const { ns, world, controller } = fixture;
    const decodedBefore = await decodedSoFar();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const healthz = `http://${controller.healthAddress ?? ''}/healthz`;
    let probes = 0;
    let probeFailures = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const ok = await fetch(healthz, { signal: AbortSignal.timeout(Math.ceil(oneDecodeMs / 2)) }).then(
          (r) => r.status === 200,
          () => false,
        );
        probes++;
        if (!ok) probeFailures++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await syncs.create(
      ns,
      'hostile',
      syncSpec(world, {
        objects: Array.from({ length: HOSTILE_OBJECTS }, (_, i) => ({ name: `expensive-${i}`, type: 'secret' })),
        secretObjects: [{ secretName: 'hostile', data: Array.from({ length: HOSTILE_OBJECTS }, (_, i) => ({ objectName: `expensive-${i}`, key: `cert-${i}.pem` })) }],
        refreshInterval: '1h',
      }),
    );
    await syncs.create(ns, 'healthy', syncSpec(world, { objects: [{ name: 'db-password', type: 'secret' }], secretObjects: [{ secretName: 'healthy', data: [{ objectName: 'db-password' }] }], refreshInterval: '1h' }));
    const isReady = async (name: string): Promise<boolean> => conditionOf(await syncs.get(ns, name), 'Ready')?.status === 'True';
    // The healthy KeyVaultSync, created second, is served while the hostile one's objects are decoded.
    const hostileReadyFirst = await pollUntil(async () => ((await isReady('healthy')) ? false : (await isReady('hostile')) ? true : undefined), { ...WAIT, description: 'healthy or hostile Ready' });
    await pollUntil(async () => ((await isReady('hostile')) ? true : undefined), { ...WAIT, description: 'hostile Ready' });
    probing = false;
    await prober;
    delay.disable();

    // The hostile objects really were decoded, by the controller, while we watched.
    expect(await decodedSoFar()).toBeGreaterThanOrEqual(decodedBefore + HOSTILE_OBJECTS);
    const maxDelayMs = delay.max / 1e6;
    // On the event loop, each decode alone would have delayed it by about oneDecodeMs.
    expect(maxDelayMs, `event loop delay ${Math.round(maxDelayMs)} ms vs ${Math.round(oneDecodeMs)} ms per decode`).toBeLessThan(oneDecodeMs / 2);
    expect(hostileReadyFirst).toBe(false);
    expect(probes).toBeGreaterThan(0);
    expect(probeFailures).toBe(0);
  }, 120_000);
});

/**
 * `/metrics` of a running controller on the real control plane and emulator: after a real sync the
 * sync counter, the duration histogram and the certificate expiry gauge are exported, and the expiry
 * series goes with its KeyVaultSync.
 */
import { X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../../src/controller/controller.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { requestCounts } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { conditionOf, syncApi, syncSpec, VAULT, type TestWorld, startOperatorFixture, type OperatorFixture } from './support.ts';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };

/** Values of every series of `name` whose labels contain all of `labels`, from the exposition text. */
function series(text: string, name: string, labels: Record<string, string> = {}): number[] {
  const values: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) values.push(Number(m[3]));
  }
  return values;
}

/** Sum of every matching series. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  return series(text, name, labels).reduce((a, b) => a + b, 0);
}

/** Value of the first matching series. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return series(text, name, labels)[0];
}

describe('controller /metrics on the real control plane and emulator', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const syncs = syncApi(kc);
  let world: TestWorld;
  let ns = '';
  let controller: RunningController;
  const scrape = async (): Promise<string> => {
    const res = await fetch(`http://${controller.healthAddress ?? ''}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  let fixture: OperatorFixture | undefined;
  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'metrics');
    ({ world, ns, controller } = fixture);
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('exports the sync counter, duration histogram and certificate expiry after a real sync', async () => {
    await syncs.create(
      ns,
      'web',
      syncSpec(world, {
        objects: [
          { name: 'shop-tls', type: 'certificate' },
          { name: 'db-password', type: 'secret' },
        ],
        secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] }],
        refreshInterval: '1h',
      }),
    );
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'web'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'KeyVaultSync web Ready=True' });
    const text = await pollUntil(async () => {
      const t = await scrape();
      return (sample(t, 'kvsync_syncs_total', { result: 'success' }) ?? 0) >= 1 ? t : undefined;
    }, { ...WAIT, description: 'kvsync_syncs_total{result="success"} ≥ 1' });

    expect(sample(text, 'kvsync_sync_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kvsync_sync_duration_seconds_sum')).toBeGreaterThan(0);
    expect(sample(text, 'kvsync_sync_duration_seconds_bucket', { le: '+Inf' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kvsync_workqueue_depth')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'kvsync_workqueue_wait_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // The gauge is the notAfter of the certificate actually written.
    const tlsSecret = await core.readNamespacedSecret({ name: 'web-tls', namespace: ns });
    const leaf = new X509Certificate(Buffer.from(tlsSecret.data?.['tls.crt'] ?? '', 'base64'));
    const expiry = sample(text, 'kvsync_certificate_expiry_timestamp_seconds', { namespace: ns, keyvaultsync: 'web', object: 'shop-tls' });
    expect(expiry).toBe(new Date(leaf.validTo).getTime() / 1000);
    expect(text).not.toMatch(/kvsync_certificate_expiry_timestamp_seconds\{[^}]*object="db-password"/);
    // No secret value anywhere in the exposition.
    expect(text).not.toContain('correct-horse-battery-staple');
  });

  it('counts the Key Vault requests the emulator saw, by vault, operation and status', async () => {
    // Only this controller talks to this test's emulator; the refresh interval is 1 h, so the counts settle.
    const emulated = await pollUntil(async () => {
      const counts = (await requestCounts(world.emu)).filter((c) => c.vault === VAULT);
      const seen = counts.reduce((n, c) => n + c.count, 0);
      return seen > 0 && seen === total(await scrape(), 'kvsync_keyvault_requests_total', { vault: VAULT }) ? counts : undefined;
    }, { ...WAIT, description: 'kvsync_keyvault_requests_total equal to the emulator request counters' });
    const text = await scrape();
    for (const status of new Set(emulated.map((c) => c.status))) {
      const seen = emulated.filter((c) => c.status === status).reduce((n, c) => n + c.count, 0);
      expect(total(text, 'kvsync_keyvault_requests_total', { vault: VAULT, status: String(status) })).toBe(seen);
    }
    expect(total(text, 'kvsync_keyvault_requests_total', { vault: VAULT, operation: 'get_secret', status: '200' })).toBeGreaterThanOrEqual(2);
  });

  it('drops the certificate expiry series when the KeyVaultSync is deleted', async () => {
    await syncs.delete(ns, 'web');
    await pollUntil(async () => (sample(await scrape(), 'kvsync_certificate_expiry_timestamp_seconds', { keyvaultsync: 'web' }) === undefined ? true : undefined), {
      ...WAIT,
      description: 'expiry series of web removed',
    });
  });
});

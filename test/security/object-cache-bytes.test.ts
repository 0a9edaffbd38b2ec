/**
 * Threat: the shared object cache kept up to 10,000 reads whatever their size, so tenants choosing
 * large objects (25 KiB secrets, certificates with their decoded bundles) could grow the controller's
 * memory until it is killed, for every tenant.
 *
 * Defence: the cache is bounded in bytes (`--object-cache-max-bytes`, default 64 MiB), least recently
 * used reads evicted first, and `kvsync_object_cache_bytes` shows what it holds. Proved on the cache
 * itself, and through the controller on the real apiserver: its gauge never exceeds the flag's bound
 * while the KeyVaultSync's objects together are larger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerArgs } from '../../src/controller/command.ts';
import { ObjectCache, type ObjectCacheKey } from '../../src/keyvault/object-cache.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { clientsFor } from '../integration/emulator/kv-support.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from '../integration/controller/support.ts';
import { kubeConfig } from '../integration/support/kube.ts';

const key = (name: string): ObjectCacheKey => ({ vaultUrl: 'https://a.vault.azure.net', type: 'secret', name, version: 'v1', identityKey: 'id' });

describe('threat: large objects grow the controller without bound', () => {
  it('the object cache keeps at most maxBytes, evicting the least recently used, and never keeps an oversized read', async () => {
    const cache = new ObjectCache<string>({ maxBytes: 3_000, sizeOf: (v) => v.length });
    let loads = 0;
    const get = (name: string, size: number): Promise<string> =>
      cache.get(key(name), () => {
        loads++;
        return Promise.resolve('x'.repeat(size));
      });
    await get('a', 1_000);
    await get('b', 1_000);
    await get('c', 1_000);
    expect(cache.bytes).toBe(3_000);
    await get('a', 1_000); // a is now the most recently used
    await get('d', 1_000); // evicts b
    expect(cache.bytes).toBe(3_000);
    expect(loads).toBe(4);
    await get('a', 1_000);
    await get('b', 1_000);
    expect(loads).toBe(5);
    await get('huge', 5_000);
    expect(cache.bytes).toBeLessThanOrEqual(3_000);
    await get('huge', 5_000);
    expect(loads).toBe(7);
  });

  it('--object-cache-max-bytes takes bytes with Kubernetes binary suffixes', () => {
    const args = parseControllerArgs(['--object-cache-max-bytes', '48Ki']);
    if (typeof args === 'number') throw new Error('flags refused');
    expect(args.objectCacheMaxBytes).toBe(48 * 1024);
    expect(parseControllerArgs(['--object-cache-max-bytes', '64MB'])).toBe(2);
  });

  describe('on the real apiserver', () => {
    const kc = kubeConfig();
    const syncs = syncApi(kc);
    let fixture: OperatorFixture;
    const MAX = 48 * 1024;

    beforeAll(async () => {
      fixture = await startOperatorFixture(kc, 'sec-cachebytes', { objectCacheMaxBytes: MAX });
      const vault = clientsFor(fixture.world.emu);
      for (let i = 0; i < 4; i++) await vault.secrets.setSecret(`large-${i}`, `${i}`.repeat(20_000));
    });

    afterAll(async () => {
      await fixture?.stop();
    });

    it('keeps the gauge at or under the bound while the objects together are larger', async () => {
      const { ns, world, controller } = fixture;
      const objects = Array.from({ length: 4 }, (_, i) => ({ name: `large-${i}`, type: 'secret' }));
      await syncs.create(ns, 'large', syncSpec(world, { objects, secretObjects: [{ secretName: 'large', data: objects.map((o) => ({ objectName: o.name })) }], refreshInterval: '1h' }));
      await pollUntil(async () => (conditionOf(await syncs.get(ns, 'large'), 'Ready')?.status === 'True' ? true : undefined), { timeoutMs: 30_000, description: 'large Ready' });
      const body = await (await fetch(`http://${controller.healthAddress ?? ''}/metrics`)).text();
      const gauge = Number(/^kvsync_object_cache_bytes (\d+)$/m.exec(body)?.[1]);
      expect(gauge).toBeGreaterThan(20_000);
      expect(gauge).toBeLessThanOrEqual(MAX);
    });
  });
});

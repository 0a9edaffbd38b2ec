/**
 * The change detector's choice between listing and reading, on the emulator: a vault of 80 secrets lists
 * in 4 pages, so a KeyVaultSync that uses one of them is watched by one read a cycle once the first
 * listing has shown the vault's size, and a new version is still found (by that read).
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { startOperatorFixture, conditionOf, syncApi, syncSpec, type OperatorFixture } from '../controller/support.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';

const FILLERS = 80;
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };

describe('list or read, on the emulator', () => {
  const kc = kubeConfig();
  const syncs = syncApi(kc);
  let fixture: OperatorFixture;

  /** `kvsync_keyvault_requests_total{operation}` answered 200, summed over the vault. */
  const requests = async (operation: string): Promise<number> => {
    const { body } = await fixture.controller.metrics.scrape();
    return body
      .split('\n')
      .filter((l) => l.startsWith('kvsync_keyvault_requests_total{') && l.includes(`operation="${operation}"`) && l.includes('status="200"'))
      .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
  };
  const value = async (): Promise<string | undefined> => {
    const s = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name: 'one-db', namespace: fixture.ns }).catch(() => undefined);
    return s?.data?.PASSWORD === undefined ? undefined : Buffer.from(s.data.PASSWORD, 'base64').toString();
  };

  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'listread');
    const vault = clientsFor(fixture.world.emu).secrets;
    for (let i = 0; i < FILLERS; i++) await vault.setSecret(`filler-${i}`, `v-${i}`);
    await syncs.create(fixture.ns, 'one', syncSpec(fixture.world, {
      refreshInterval: '10s',
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName: 'one-db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'PASSWORD' }] }],
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(fixture.ns, 'one'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'one Ready' });
    // The first cycle lists the vault (4 pages), which shows its size.
    await pollUntil(async () => ((await requests('list_secrets')) >= Math.ceil((FILLERS + 3) / 25) ? true : undefined), { ...WAIT, description: 'the first listing' });
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('reads the one object a cycle instead of listing 4 pages, and finds a new version by that read', async () => {
    const lists = await requests('list_secrets');
    const reads = await requests('get_secret');
    // Two more cycles, each one read of db-password.
    await pollUntil(async () => ((await requests('get_secret')) >= reads + 2 ? true : undefined), { ...WAIT, description: 'two cycles of reads' });
    expect(await requests('list_secrets')).toBe(lists);
    await clientsFor(fixture.world.emu).secrets.setSecret('db-password', 'found-by-a-read');
    await pollUntil(async () => ((await value()) === 'found-by-a-read' ? true : undefined), { ...WAIT, description: 'one-db holds the new version' });
    expect(await requests('list_secrets')).toBe(lists);
  });
});

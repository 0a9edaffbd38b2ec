/**
 * Never hit a vault harder than it allows, on the real control plane and the real
 * emulator, with Key Vault requests counted by the emulator's admin counters:
 * - the emulator throttled to 50 requests per 10 s and kvsync limited to 45: 60 KeyVaultSyncs with
 *   distinct objects all become Ready and the emulator answers (almost) no 429;
 * - a 429 storm leaves the Secrets intact, KeyVaultSyncs are told Throttled (Ready stays True), all converge after;
 * - an outage (503 without Retry-After) opens the vault's circuit breaker: far fewer requests than
 *   failed syncs × 3 SDK attempts; recovery closes it and everything converges;
 * - priority: a controller restarting over 200 synced KeyVaultSyncs at 20 requests per 10 s makes a
 *   new KeyVaultSync Ready before most of the 200 are refreshed.
 */
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { installCrds } from '../../../src/api/install.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { FORCE_SYNC_ANNOTATION } from '../../../src/controller/labels.ts';
import type { KeyVaultSyncObject } from '../../../src/controller/reconciler.ts';
import { emulatorAgent } from '../../../src/keyvault/endpoints-file.ts';
import { DEFAULT_VAULT_REQUESTS_PER_10S } from '../../../src/keyvault/vault-guard.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { admin, requestCounts } from '../emulator/kv-support.ts';
import { conditionOf, createCredentialsSecret, runController, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from '../controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const syncs = syncApi(kc);
let world: TestWorld;
let ns = '';
let opNs = '';
let controller: RunningController | undefined;

const pad = (i: number): string => String(i).padStart(3, '0');
const kvsName = (i: number): string => `kvs-${pad(i)}`;

async function startCtl(vaultRequestsPer10s: number): Promise<RunningController> {
  await controller?.stop();
  controller = await runController(kc, world, { namespace: opNs, watchNamespace: ns, vaultRequestsPer10s, concurrency: 4 });
  return controller;
}

async function createSyncs(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, to - i) }, (_, j) =>
        syncs.create(ns, kvsName(i + j), syncSpec(world, { refreshInterval: '1h', objects: [{ name: `load-${pad(i + j)}`, type: 'secret' }], secretObjects: [{ secretName: `out-${pad(i + j)}`, type: 'Opaque', data: [{ objectName: `load-${pad(i + j)}`, key: 'value' }] }] })),
      ),
    );
  }
}

async function listSyncs(): Promise<KeyVaultSyncObject[]> {
  const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: ns })) as { items: KeyVaultSyncObject[] };
  return list.items;
}

async function allReady(names: string[], timeoutMs: number, description: string): Promise<void> {
  const wanted = new Set(names);
  await pollUntil(
    async () => {
      const ready = (await listSyncs()).filter((o) => wanted.has(o.metadata?.name ?? '') && conditionOf(o, 'Ready')?.status === 'True' && conditionOf(o, 'Synced')?.status === 'True');
      return ready.length === wanted.size ? true : undefined;
    },
    { timeoutMs, intervalMs: 500, description },
  );
}

/** Emulator counts for the test vault: status → requests (all operations, tokens excluded). */
async function vaultCounts(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const c of await requestCounts(world.emu)) if (c.vault === VAULT) out.set(c.status, (out.get(c.status) ?? 0) + c.count);
  return out;
}

async function circuitState(): Promise<number | undefined> {
  const body = (await controller?.metrics.scrape())?.body ?? '';
  const m = new RegExp(`^kvsync_keyvault_circuit_state\\{vault="${VAULT}"\\} (\\d+)$`, 'm').exec(body);
  return m === null ? undefined : Number(m[1]);
}

async function forceSync(names: string[]): Promise<void> {
  const stamp = String(Date.now());
  await Promise.all(names.map((n) => syncs.patch(ns, n, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: stamp } } })));
}

async function secretVersions(names: string[]): Promise<string[]> {
  return Promise.all(names.map(async (n) => (await core.readNamespacedSecret({ namespace: ns, name: n })).metadata?.resourceVersion ?? ''));
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  ns = await createTestNamespace(kc, 'kv-guard');
  opNs = await createTestNamespace(kc, 'kv-guard-op');
  await createCredentialsSecret(kc, ns, world);
  const adminCred = new ClientSecretCredential(world.emu.endpoints.tenantID, world.emu.endpoints.admin.clientID, world.emu.endpoints.admin.clientSecret, {
    authorityHost: world.emu.endpoints.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: world.emu.caPem },
  });
  const kv = new SecretClient(world.emu.endpoints.vaults[VAULT] ?? '', adminCred, { agent: emulatorAgent(world.emu.endpoints, world.emu.caPem) });
  for (let i = 0; i < 201; i += 25) await Promise.all(Array.from({ length: Math.min(25, 201 - i) }, (_, j) => kv.setSecret(`load-${pad(i + j)}`, `value-${pad(i + j)}`)));
}, 180_000);

afterAll(async () => {
  await controller?.stop();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
}, 120_000);

describe('per-vault limiter, Retry-After, circuit breaker and priority', () => {
  it('keeps under an emulator throttled to 50 requests per 10 s: 60 KeyVaultSyncs converge with (almost) no 429', async () => {
    expect((await admin(world.emu, 'PUT', '/throttling', { vault: VAULT, requestsPer10s: 50 })).status).toBeLessThan(300);
    await admin(world.emu, 'DELETE', '/requests');
    const started = Date.now();
    await startCtl(45);
    await createSyncs(0, 60);
    await allReady(Array.from({ length: 60 }, (_, i) => kvsName(i)), 150_000, '60 KeyVaultSyncs Ready');
    const counts = await vaultCounts();
    const sent = [...counts.values()].reduce((a, b) => a + b, 0);
    const throttled = counts.get(429) ?? 0;
    console.log(`[vault-guard] 60 KeyVaultSyncs Ready in ${((Date.now() - started) / 1000).toFixed(1)} s; emulator saw ${sent} vault requests, ${throttled} answered 429`);
    expect(sent).toBeGreaterThanOrEqual(60);
    // At 45 per 10 s against a limit of 50, only a request arriving late at a window edge can be refused.
    expect(throttled).toBeLessThanOrEqual(2);
  }, 200_000);

  it('a 429 storm leaves the Secrets intact and shows Throttled; everything converges once it ends', async () => {
    await admin(world.emu, 'PUT', '/throttling', { vault: VAULT, requestsPer10s: 100_000 });
    const names = Array.from({ length: 5 }, (_, i) => kvsName(i));
    const before = await secretVersions(names.map((_, i) => `out-${pad(i)}`));
    await admin(world.emu, 'DELETE', '/requests');
    const stormStart = Date.now();
    expect((await admin(world.emu, 'POST', '/faults', { vault: VAULT, status: 429, retryAfterSeconds: 1, durationSeconds: 8 })).status).toBe(201);
    await forceSync(names);
    // A fetch that waits on the vault's pause is told while it waits (a Throttled event, and Synced=False
    // reason Throttled until the sync ends); one whose retries run out keeps Synced=False, Throttled.
    const seen = await pollUntil(
      async () => {
        const list = (await listSyncs()).filter((o) => names.includes(o.metadata?.name ?? ''));
        const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.kind=KeyVaultSync,reason=Throttled' });
        const told = new Set(events.items.filter((e) => e.type === 'Warning' && (e.lastTimestamp?.getTime() ?? 0) >= stormStart - 1000).map((e) => e.involvedObject.name));
        const throttled = list.filter((o) => conditionOf(o, 'Synced')?.reason === 'Throttled' || told.has(o.metadata?.name));
        return throttled.length > 0 ? throttled : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'a KeyVaultSync told Throttled (event or condition)' },
    );
    // Synced once before: Ready stays True (its Secrets are in place) while the vault throttles.
    for (const o of seen) expect(conditionOf(o, 'Ready')?.status).toBe('True');
    expect(await secretVersions(names.map((_, i) => `out-${pad(i)}`))).toEqual(before);
    await pollUntil(
      async () => {
        const list = (await listSyncs()).filter((o) => names.includes(o.metadata?.name ?? ''));
        const done = list.filter((o) => conditionOf(o, 'Synced')?.status === 'True' && conditionOf(o, 'Ready')?.status === 'True' && Date.parse(o.status?.lastSyncTime ?? '') >= stormStart);
        return done.length === names.length ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500, description: 'the 5 KeyVaultSyncs synced again after the storm' },
    );
    const counts = await vaultCounts();
    console.log(`[vault-guard] 429 storm of 8 s: emulator answered ${counts.get(429) ?? 0} × 429, ${counts.get(200) ?? 0} × 200`);
    // The vault-wide pause (Retry-After, then backoff) keeps the storm cheap: 5 forced syncs do not hammer it.
    expect(counts.get(429) ?? 0).toBeLessThanOrEqual(15);
    expect(await secretVersions(names.map((_, i) => `out-${pad(i)}`))).toEqual(before);
  }, 150_000);

  it('an outage opens the circuit breaker (far fewer requests than failed syncs) and recovery closes it', async () => {
    const names = Array.from({ length: 10 }, (_, i) => kvsName(10 + i));
    const before = await secretVersions(names.map((_, i) => `out-${pad(10 + i)}`));
    await admin(world.emu, 'DELETE', '/requests');
    const failedBefore = await failedSyncs();
    expect((await admin(world.emu, 'POST', '/faults', { vault: VAULT, status: 503, retryAfterSeconds: null, durationSeconds: 12 })).status).toBe(201);
    await forceSync(names);
    await pollUntil(async () => ((await circuitState()) === 2 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, description: 'circuit open' });
    const unavailable = await pollUntil(
      async () => {
        const list = (await listSyncs()).filter((o) => names.includes(o.metadata?.name ?? '') && conditionOf(o, 'Synced')?.reason === 'VaultUnavailable');
        return list.length > 0 ? list : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'a KeyVaultSync showing VaultUnavailable' },
    );
    expect(conditionOf(unavailable[0] ?? {}, 'Synced')?.message).toMatch(/vault "devkv" is unavailable: 5 requests in a row failed \(last: HTTP 503\)/);
    // Let the outage run its course while syncs keep being retried.
    await pollUntil(async () => ((await vaultCounts()).get(200) ?? 0) > 0 ? true : undefined, { timeoutMs: 60_000, intervalMs: 500, description: 'a request answered 200 after the outage' });
    const outage = await vaultCounts();
    const failed = (await failedSyncs()) - failedBefore;
    console.log(`[vault-guard] 12 s outage: ${failed} failed syncs cost ${outage.get(503) ?? 0} requests answered 503 (without the breaker each costs 3: 1 + 2 SDK retries)`);
    expect(failed).toBeGreaterThanOrEqual(names.length);
    expect(outage.get(503) ?? 0).toBeLessThan(failed);
    await allReady(names, 90_000, 'the 10 KeyVaultSyncs synced again after the outage');
    await pollUntil(async () => ((await circuitState()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, description: 'circuit closed' });
    expect(await secretVersions(names.map((_, i) => `out-${pad(10 + i)}`))).toEqual(before);
  }, 200_000);

  it('a new KeyVaultSync becomes Ready before 200 refreshing ones (queue and limiter priority)', async () => {
    await startCtl(DEFAULT_VAULT_REQUESTS_PER_10S);
    await createSyncs(60, 200);
    await allReady(Array.from({ length: 200 }, (_, i) => kvsName(i)), 180_000, '200 KeyVaultSyncs Ready');
    await controller?.stop();
    controller = undefined;
    // Created while no controller runs; sorts last, so a FIFO queue would take it after all 200.
    await syncs.create(ns, 'zz-new', syncSpec(world, { refreshInterval: '1h', objects: [{ name: 'load-200', type: 'secret' }], secretObjects: [{ secretName: 'out-new', type: 'Opaque', data: [{ objectName: 'load-200', key: 'value' }] }] }));
    const restarted = new Date();
    const slow = await startCtl(20); // every one of the 200 is re-read at 20 requests per 10 s: ≥ 100 s of backlog
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'zz-new'), 'Ready')?.status === 'True' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250, description: 'zz-new Ready' });
    const readyAfter = (Date.now() - restarted.getTime()) / 1000;
    // KeyVaultSyncs the restarted controller has synced, by its own metric (a quiet refresh writes no status).
    const refreshed = (await slow.metrics.scrape()).body.split('\n').filter((l) => l.startsWith('kvsync_last_sync_timestamp_seconds{') && !l.includes('keyvaultsync="zz-new"')).length;
    console.log(`[vault-guard] after a restart over 200 KeyVaultSyncs at 20 requests/10 s: the new one was Ready in ${readyAfter.toFixed(1)} s, when ${refreshed} of the 200 had been refreshed`);
    expect(refreshed).toBeLessThan(50);
    // Drain the backlog quickly so the controller stops promptly.
    slow.keyVault.guards.configure({ requestsPer10s: DEFAULT_VAULT_REQUESTS_PER_10S });
  }, 300_000);
});

async function failedSyncs(): Promise<number> {
  const body = (await controller?.metrics.scrape())?.body ?? '';
  let n = 0;
  for (const m of body.matchAll(/^kvsync_syncs_total\{result="(VaultUnavailable|VaultUnreachable)"\} (\d+)$/gm)) n += Number(m[2]);
  return n;
}

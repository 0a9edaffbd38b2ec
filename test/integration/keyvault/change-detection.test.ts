/**
 * Change detection and vault-driven refresh, on the real control plane and
 * the emulator, every count read from the emulator's request counters (`GET <adminUrl>/requests`):
 * - an unchanged vault costs only list pages while many KeyVaultSyncs sharing objects refresh;
 * - a new version is read once and reaches every Secret using it (its latency is printed: a figure for
 *   the bench, not a bound for a busy machine);
 * - a deleted or edited managed Secret is restored without a Key Vault request;
 * - a pushed change (markChanged) names exactly the KeyVaultSyncs using the object;
 * - with listing forbidden (an object-scoped role) at most one read per object per cycle, and
 *   changes are still found.
 * The controller builds its own pipeline, as in production: change detection runs only while it leads.
 * The CRD's minimum refreshInterval is 10 s, so a cycle here is 10 s.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import { CYCLE_JITTER } from '../../../src/keyvault/change-detector.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { admin, clientsFor, countOf, requestCounts, type Clients, type RequestCount } from '../emulator/kv-support.ts';
import { conditionOf, createCredentialsSecret, runController, SP_SECRET, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from '../controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';

const INTERVAL_MS = 10_000;
const WAIT = { timeoutMs: 90_000, intervalMs: 200 };
/** Tests that wait for several cycles: their polls' own timeouts, not the default test timeout, bound them. */
const SLOW_TEST_MS = 240_000;
const SHARED = ['cd-a', 'cd-b', 'cd-c'];
const SCOPED = ['cd-x', 'cd-y'];

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const syncs = syncApi(kc);
let world: TestWorld;
let vault: Clients;
let ns = '';
let opNs = '';
let controller: RunningController | undefined;
/** Figures measured, printed at the end. */
const figures: Record<string, number> = {};

/** KeyVaultSyncs of the list-permitted identity: each uses two of the three shared secrets. */
const LISTED_SYNCS = Array.from({ length: 6 }, (_, i) => ({ name: `list-${i}`, objects: [SHARED[i % 3] ?? '', SHARED[(i + 1) % 3] ?? ''] }));

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld({
    servicePrincipals: [{ name: 'scoped-app', secrets: [SP_SECRET] }],
    roleAssignments: SCOPED.map((name) => ({ principal: 'scoped-app', role: 'Key Vault Secrets User', vault: VAULT, scope: `secrets/${name}` })),
  });
  vault = clientsFor(world.emu);
  for (const name of [...SHARED, ...SCOPED]) await vault.secrets.setSecret(name, `${name}-v1`);
  await vault.secrets.setSecret('cd-h', 'cd-h-v0');
  await vault.secrets.setSecret('cd-h', 'cd-h-v1');
  ns = await createTestNamespace(kc, 'kv-detect');
  opNs = await createTestNamespace(kc, 'kv-detect-op');
  await createCredentialsSecret(kc, ns, world);
  const scoped = world.emu.config.servicePrincipals.find((p) => p.name === 'scoped-app');
  if (scoped === undefined) throw new Error('scoped-app missing from the emulator config');
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'kv-creds-scoped' }, stringData: { clientid: scoped.clientId, clientsecret: SP_SECRET } } });
  controller = await runController(kc, world, { namespace: opNs, watchNamespace: ns, healthAddr: '127.0.0.1:0' });
});

afterAll(async () => {
  console.log(`[change-detection] ${JSON.stringify(figures)}`);
  await controller?.stop();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
});

const resetCounters = async (): Promise<void> => {
  expect((await admin(world.emu, 'DELETE', '/requests')).status).toBe(204);
};
const counts = (): Promise<RequestCount[]> => requestCounts(world.emu);
/** Every counted request of the vault except those of `operations`. */
const othersThan = (all: RequestCount[], ...operations: string[]): RequestCount[] => all.filter((c) => c.vault === VAULT && !operations.includes(c.operation) && c.count > 0);

async function createSync(name: string, objects: string[], credentials = 'kv-creds'): Promise<void> {
  const spec = syncSpec(world, {
    objects: objects.map((o) => ({ name: o, type: 'secret' })),
    secretObjects: [{ secretName: name, data: objects.map((o) => ({ objectName: o, key: o })) }],
    refreshInterval: '10s',
  });
  await syncs.create(ns, name, { ...spec, identity: { servicePrincipal: { secretRef: { name: credentials } } } });
}

const waitReady = (name: string): Promise<true> =>
  pollUntil(async () => (conditionOf(await syncs.get(ns, name), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: `${name} Ready=True` });

async function secretValue(name: string, key: string): Promise<string | undefined> {
  try {
    const s = await core.readNamespacedSecret({ name, namespace: ns });
    const v = s.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** Change-detection listings of the vault that succeeded, by the controller's metrics. */
async function listingsOk(): Promise<number> {
  const text = (await controller?.metrics.scrape())?.body ?? '';
  const line = text.split('\n').find((l) => l.startsWith('kvsync_change_detection_lists_total{vault="devkv",result="ok"} '));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** Waits for `n` more change-detection cycles (with list permission) to have started. */
async function waitCycles(n: number): Promise<void> {
  const from = await listingsOk();
  await pollUntil(async () => ((await listingsOk()) >= from + n ? true : undefined), { timeoutMs: n * INTERVAL_MS * 3 + 60_000, intervalMs: 500, description: `${n} change-detection cycles` });
}

/** The end of the KeyVaultSync's last successful sync, by the controller's metric (a quiet refresh writes no status). */
async function lastSync(name: string): Promise<string | undefined> {
  const text = (await controller?.metrics.scrape())?.body ?? '';
  return text.split('\n').find((l) => l.startsWith(`kvsync_last_sync_timestamp_seconds{namespace="${ns}",keyvaultsync="${name}"} `))?.split(' ')[1];
}

/** Waits until each KeyVaultSync has been refreshed (its last successful sync moved) `times` times. */
async function waitRefreshes(names: string[], times: number): Promise<void> {
  const seen = new Map<string, Set<string>>();
  for (const n of names) seen.set(n, new Set([(await lastSync(n)) ?? '']));
  await pollUntil(
    async () => {
      for (const n of names) seen.get(n)?.add((await lastSync(n)) ?? '');
      return [...seen.values()].every((s) => s.size > times) ? true : undefined;
    },
    { timeoutMs: times * INTERVAL_MS * 3 + 60_000, intervalMs: 500, description: `${times} refreshes of ${names.join(', ')}` },
  );
}

describe('change detection with list permission', () => {
  it('an unchanged vault costs only list pages while many KeyVaultSyncs sharing objects refresh', async () => {
    for (const s of LISTED_SYNCS) await createSync(s.name, s.objects);
    for (const s of LISTED_SYNCS) await waitReady(s.name);
    // Reads made within a few seconds of a version's creation are verified once by the next cycle (one
    // version listing); that is over once a second cycle has started.
    await waitCycles(2);
    await resetCounters();
    const started = Date.now();
    await waitRefreshes(
      LISTED_SYNCS.map((s) => s.name),
      2,
    );
    const elapsed = Date.now() - started;
    const all = await counts();
    // Every KeyVaultSync refreshed twice: not one value read, only list pages (one page: < 25 secrets).
    expect(othersThan(all, 'listSecrets')).toEqual([]);
    const lists = countOf(all, 'listSecrets', 200);
    figures.listRequestsPerCycle = lists / Math.max(1, Math.round(elapsed / INTERVAL_MS));
    expect(lists).toBeGreaterThanOrEqual(1);
    expect(lists).toBeLessThanOrEqual(Math.ceil(elapsed / INTERVAL_MS) + 1);
    // The controller's metrics say the same.
    const text = (await controller?.metrics.scrape())?.body ?? '';
    expect(text).toMatch(/kvsync_change_detection_lists_total\{vault="devkv",result="ok"\} [1-9]/);
    expect(text).toMatch(/kvsync_object_cache_requests_total\{result="hit"\} [1-9]/);
  });

  it('a new version is read once and reaches every Secret using it, and no other', async () => {
    const users = LISTED_SYNCS.filter((s) => s.objects.includes('cd-a'));
    const others = LISTED_SYNCS.filter((s) => !s.objects.includes('cd-a'));
    await resetCounters();
    await vault.secrets.setSecret('cd-a', 'cd-a-v2');
    const created = Date.now();
    const reachedAt = new Map<string, number>();
    await pollUntil(
      async () => {
        for (const s of users) if (!reachedAt.has(s.name) && (await secretValue(s.name, 'cd-a')) === 'cd-a-v2') reachedAt.set(s.name, Date.now());
        return reachedAt.size === users.length ? true : undefined;
      },
      { ...WAIT, intervalMs: 100, description: 'cd-a-v2 in every Secret using cd-a' },
    );
    figures.pollingLatencyMs = Math.max(...reachedAt.values()) - created;
    expect(countOf(await counts(), 'getSecret', 200)).toBe(1);
    for (const s of others) expect(await secretValue(s.name, s.objects[0] ?? '')).toBe(`${s.objects[0] ?? ''}-v1`);
    // Two cycles and a refresh of each later: still that one read. When the read came within the
    // second of the version's stamp (+ skew), one version listing (no value) verified it.
    await waitCycles(2);
    await waitRefreshes(
      users.map((s) => s.name),
      1,
    );
    const all = await counts();
    expect(countOf(all, 'getSecret', 200)).toBe(1);
    expect(countOf(all, 'listSecretVersions', 200)).toBeLessThanOrEqual(1);
    expect(othersThan(all, 'listSecrets', 'getSecret', 'setSecret', 'listSecretVersions')).toEqual([]);
  });

  it('a deleted or edited managed Secret is restored without a Key Vault request', async () => {
    await resetCounters();
    const [deleted, edited] = LISTED_SYNCS;
    if (deleted === undefined || edited === undefined) throw new Error('no KeyVaultSyncs');
    const key = edited.objects[0] ?? '';
    const expected = await secretValue(edited.name, key);
    await core.deleteNamespacedSecret({ name: deleted.name, namespace: ns });
    await core.patchNamespacedSecret({ name: edited.name, namespace: ns, body: { data: { [key]: Buffer.from('tampered').toString('base64') } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await pollUntil(async () => ((await secretValue(deleted.name, deleted.objects[0] ?? '')) !== undefined ? true : undefined), { ...WAIT, description: 'the deleted Secret restored' });
    await pollUntil(async () => ((await secretValue(edited.name, key)) === expected ? true : undefined), { ...WAIT, description: 'the edited Secret restored' });
    expect(othersThan(await counts(), 'listSecrets')).toEqual([]);
  });

  it('a force-sync reads fresh: its objects are read again, once each', async () => {
    const [forced] = LISTED_SYNCS;
    if (forced === undefined) throw new Error('no KeyVaultSyncs');
    const before = await lastSync(forced.name);
    await resetCounters();
    await syncs.patch(ns, forced.name, { metadata: { annotations: { 'kvsync.dev/force-sync': String(Date.now()) } } });
    await pollUntil(async () => (countOf(await counts(), 'getSecret', 200) >= forced.objects.length ? true : undefined), { ...WAIT, description: 'the forced reads' });
    await pollUntil(async () => ((await lastSync(forced.name)) !== before ? true : undefined), { ...WAIT, description: 'the forced sync' });
    expect(countOf(await counts(), 'getSecret', 200)).toBe(forced.objects.length);
  });

  it('with objectVersionHistory, a new version costs one value read and one version listing', async () => {
    const spec = syncSpec(world, {
      objects: [{ name: 'cd-h', type: 'secret', versionHistory: 2 }],
      secretObjects: [{ secretName: 'hist-0', data: [{ objectName: 'cd-h', key: 'cd-h' }] }],
      refreshInterval: '10s',
    });
    await syncs.create(ns, 'hist-0', spec);
    await waitReady('hist-0');
    expect(await secretValue('hist-0', 'cd-h')).toBe('cd-h-v1');
    await resetCounters();
    await vault.secrets.setSecret('cd-h', 'cd-h-v2');
    const rotated = Date.now();
    await pollUntil(async () => ((await secretValue('hist-0', 'cd-h')) === 'cd-h-v2' ? true : undefined), { ...WAIT, description: 'cd-h-v2 in hist-0' });
    figures.historyLatencyMs = Date.now() - rotated;
    // A read made within its stamp's second is verified by the next cycle (one version listing): two
    // cycles on, that listing is made and counted here, never left to run inside a later test's count.
    await waitCycles(2);
    const all = await counts();
    // The detector's read of the current version is also that (newest) version pinned; the older one is kept.
    expect(countOf(all, 'getSecret', 200)).toBe(1);
    // The KeyVaultSync's version list, and at most one listing verifying a read in its stamp's second.
    expect(countOf(all, 'listSecretVersions', 200)).toBeGreaterThanOrEqual(1);
    expect(countOf(all, 'listSecretVersions', 200)).toBeLessThanOrEqual(2);
  }, SLOW_TEST_MS);

  it('a pushed change names exactly the KeyVaultSyncs using the object, unless its version is the one read', async () => {
    const markChanged = controller?.pipeline.markChanged?.bind(controller.pipeline);
    if (markChanged === undefined) throw new Error('the controller\'s pipeline cannot mark changes');
    const vaultUrl = world.emu.endpoints.vaults[VAULT] ?? '';
    const current = (await vault.secrets.getSecret('cd-b')).properties.version;
    expect(markChanged(vaultUrl, 'cd-b', current)).toEqual([]);
    const expected = LISTED_SYNCS.filter((s) => s.objects.includes('cd-b')).map((s) => `${ns}/${s.name}`);
    expect(markChanged(vaultUrl.replace(/:\d+$/, ''), 'CD-B').sort()).toEqual(expected.sort());
    expect(markChanged(VAULT, 'cd-b').sort()).toEqual(expected.sort());
    expect(markChanged(vaultUrl, 'not-used')).toEqual([]);
  });
});

describe('change detection without list permission (object-scoped role)', () => {
  it('reads each object at most once per cycle, learns the 403 once, and still finds changes', async () => {
    const names = ['scoped-0', 'scoped-1', 'scoped-2'];
    // The counts below also hold the list-permitted identity's requests: it must be idle but for its
    // listings. Its KeyVaultSyncs read what the previous test marked changed until its next cycle
    // confirms it again, so that cycle runs before counting starts (meanwhile, the scoped ones start).
    const otherIdentityConfirmed = waitCycles(1);
    const scopedStarted = (async (): Promise<void> => {
      for (const n of names) await createSync(n, SCOPED, 'kv-creds-scoped');
      for (const n of names) await waitReady(n);
      // The listing's 403 is learned at the first cycle.
      await pollUntil(async () => (countOf(await counts(), 'listSecrets', 403) > 0 ? true : undefined), { ...WAIT, description: 'a forbidden listing' });
    })();
    await Promise.all([otherIdentityConfirmed, scopedStarted]);
    await resetCounters();
    const started = Date.now();
    await waitRefreshes(names, 2);
    // The cycles that may have read in the window: the one under way at the reset, and every one started
    // since; cycles start at least an interval less its jitter apart, however fast or slow the machine.
    const cycles = Math.floor((Date.now() - started) / (INTERVAL_MS * (1 - CYCLE_JITTER))) + 2;
    let all = await counts();
    expect(countOf(all, 'listSecrets', 403)).toBe(0);
    expect(countOf(all, 'getSecret', 200)).toBeLessThanOrEqual(SCOPED.length * cycles);
    figures.forbiddenReads = countOf(all, 'getSecret', 200);
    figures.forbiddenWindowMs = Date.now() - started;
    // Only the scoped detector's reads and the other identity's list pages.
    expect(othersThan(all, 'listSecrets', 'getSecret')).toEqual([]);

    await vault.secrets.setSecret('cd-x', 'cd-x-v2');
    await pollUntil(
      async () => {
        for (const n of names) if ((await secretValue(n, 'cd-x')) !== 'cd-x-v2') return undefined;
        return true;
      },
      { ...WAIT, description: 'cd-x-v2 in every scoped Secret' },
    );
    all = await counts();
    expect(countOf(all, 'listSecrets', 403)).toBe(0);
  }, SLOW_TEST_MS);
});

describe('change detection and leadership', () => {
  it('a replica that loses the lease stops polling the vault, and polls again once it leads', async () => {
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const micro = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await coordination.patchNamespacedLease(
      { name: 'kvsync-controller', namespace: opNs, body: { spec: { holderIdentity: 'intruder', leaseDurationSeconds: 3600, renewTime: micro } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await pollUntil(() => (controller?.isLeader() === false ? true : undefined), { ...WAIT, description: 'the controller to step down' });
    // Work already in flight when the lease was lost (a detection cycle, a reconcile) may still finish:
    // wait until the vault's counters stop moving, then count from zero.
    let previous = '';
    await pollUntil(
      async () => {
        const now = JSON.stringify(othersThan(await counts()));
        const quiet = now === previous;
        previous = now;
        return quiet ? true : undefined;
      },
      { ...WAIT, intervalMs: 1000, description: 'in-flight Key Vault work of the old leader to end' },
    );
    await resetCounters();
    // Over more than one detection interval as a follower: not one Key Vault request.
    const since = Date.now();
    await pollUntil(
      async () => {
        const made = othersThan(await counts());
        if (made.length > 0) throw new Error(`a follower sent Key Vault requests: ${JSON.stringify(made)}`);
        return Date.now() - since > INTERVAL_MS * 1.5 ? true : undefined;
      },
      { timeoutMs: INTERVAL_MS * 3, intervalMs: 500, description: 'a quiet follower', isFatal: (err) => err instanceof Error && err.message.startsWith('a follower') },
    );
    await coordination.deleteNamespacedLease({ name: 'kvsync-controller', namespace: opNs });
    await pollUntil(() => (controller?.isLeader() === true ? true : undefined), { ...WAIT, description: 'the controller to lead again' });
    await waitCycles(1);
  });
});

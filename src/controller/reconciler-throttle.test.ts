/**
 * The reconciler's `Throttled` status and events with in-test stand-ins for the pipeline, writer,
 * status and events; the waiting itself is the real vault guard's (src/keyvault/vault-guard.ts), and
 * the stand-in fetch returns the wait the guard noted, as KeyVaultPipeline.fetchShared does.
 */
import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../util/poll.ts';
import { designExampleSpec, keyVaultSync } from '../api/testing/fixtures.ts';
import { VaultGuards, withVaultRequestContext, type VaultRequestContext } from '../keyvault/vault-guard.ts';
import type { EventRecorder } from './events.ts';
import type { DesiredSecret, PipelineFetchedObject, SyncFailure, SyncPipeline } from './pipeline.ts';
import { Reconciler, type KeyVaultSyncObject } from './reconciler.ts';
import type { StatusPatch } from './status.ts';
import { failureStatus } from './status.ts';

const NOW = new Date('2026-06-01T00:00:00Z');

function readyStatus(): KeyVaultSyncObject['status'] {
  return {
    observedGeneration: 3,
    lastSyncTime: '2026-05-31T00:00:00Z',
    conditions: [
      { type: 'Synced', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2026-05-31T00:00:00Z', observedGeneration: 3 },
      { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2026-05-31T00:00:00Z', observedGeneration: 3 },
    ],
  };
}

/** Each test's own guards: no limiter state or options carry over between tests. */
let vaultGuards: VaultGuards;
beforeEach(() => {
  vaultGuards = new VaultGuards();
});

/** A pipeline whose fetch sends one request through the test's vault guards to `host`. */
function world(host: string, opts: { status?: KeyVaultSyncObject['status']; failure?: SyncFailure; held?: Promise<void>; syncTimeoutMs?: number } = {}) {
  const obj: KeyVaultSyncObject = { ...(keyVaultSync(designExampleSpec()) as KeyVaultSyncObject), metadata: { name: 'example', namespace: 'shop', uid: 'u-1', generation: 3 }, ...(opts.status === undefined ? {} : { status: opts.status }) };
  const statuses: StatusPatch[] = [];
  const events: { type: string; reason: string; message: string }[] = [];
  const priorities: (string | undefined)[] = [];
  const request = { url: `https://${host}/secrets/a`, abortSignal: undefined } as unknown as PipelineRequest;
  const pipeline: SyncPipeline = {
    credentialFor: () => Promise.resolve({ credential: {}, identityKey: 'k' }),
    fetchShared: async (sync, _auth, mode) => {
      priorities.push(mode?.priority);
      const context: VaultRequestContext = { priority: mode?.priority ?? 'normal', onLongWait: mode?.onThrottled };
      // `held`: the vault (or the SDK's retries behind it) keeps the request until the test lets it go.
      const answer = async (r: PipelineRequest): Promise<PipelineResponse> => {
        await opts.held;
        return { request: r, status: 200, headers: { get: () => undefined } } as unknown as PipelineResponse;
      };
      await withVaultRequestContext(context, () => vaultGuards.policy.sendRequest(request, answer));
      const fetched: PipelineFetchedObject[] = sync.objects.map((object) => ({ object, version: 'v1', contentType: undefined, updatedOn: undefined, expiresOn: undefined }));
      return { fetched, failures: opts.failure === undefined ? [] : [opts.failure], throttled: context.longWait };
    },
    renderOutputs: (sync) => ({ secrets: sync.secrets.map((s): DesiredSecret => ({ name: s.name, type: s.type, labels: {}, annotations: {}, creationPolicy: s.creationPolicy, data: { k: Buffer.from('x') } })), configMaps: [] }),
  };
  const recorder: EventRecorder = { record: (_t, type, reason, message) => Promise.resolve(void events.push({ type, reason, message })) };
  const reconciler = new Reconciler({
    getSync: () => obj,
    listIdentities: () => [],
    pipeline,
    writer: { check: () => Promise.resolve(), applySecret: () => Promise.resolve('unchanged' as const), applyConfigMap: () => Promise.resolve('unchanged' as const), prune: () => Promise.resolve('absent' as const) },
    // Slow status writes: a status written in the middle of the fetch would still be in flight.
    status: { patchStatus: (_ns, _n, s) => new Promise((r) => setTimeout(() => r(void statuses.push(s)), 30)) },
    events: recorder,
    macKey: Buffer.alloc(32, 1),
    isLeader: () => true,
    log: pino({ level: 'silent' }),
    now: () => NOW,
    ...(opts.syncTimeoutMs === undefined ? {} : { syncTimeoutMs: opts.syncTimeoutMs }),
  });
  return { reconciler, statuses, events, priorities };
}

const cond = (s: StatusPatch | undefined, type: string): { status: string; reason: string } | undefined => s?.conditions.find((c) => c.type === type);

describe('Reconciler: Throttled', () => {
  it('tells a synced KeyVaultSync that waited on a paused vault by one Throttled event and Synced=False Throttled, then Synced once it went on', async () => {
    vaultGuards.configure({ longWaitMs: 50 });
    vaultGuards.guard('waitkv.vault.azure.net').limiter.pause(400);
    const w = world('waitkv.vault.azure.net', { status: readyStatus() });
    await w.reconciler.reconcile('shop/example');
    expect(w.statuses).toHaveLength(2);
    expect(cond(w.statuses[0], 'Synced')).toMatchObject({ status: 'False', reason: 'Throttled' });
    expect(cond(w.statuses[1], 'Synced')).toMatchObject({ status: 'True', reason: 'Synced' });
    for (const s of w.statuses) expect(cond(s, 'Ready')).toMatchObject({ status: 'True' });
    expect(w.events).toEqual([{ type: 'Warning', reason: 'Throttled', message: expect.stringMatching(/vault "waitkv" is throttling kvsync .*every request to it was paused/) as string }]);
  });

  it('tells Throttled while the fetch still waits on the paused vault, not only once it returns', async () => {
    vaultGuards.configure({ longWaitMs: 50 });
    vaultGuards.guard('stormkv.vault.azure.net').limiter.pause(100);
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const w = world('stormkv.vault.azure.net', { status: readyStatus(), held });
    const reconciled = w.reconciler.reconcile('shop/example');
    let ended = false;
    void reconciled.finally(() => (ended = true));
    // The fetch is still held: the user already sees the storm, once.
    await pollUntil(() => (w.statuses.length > 0 ? true : undefined), { timeoutMs: 5000, intervalMs: 10, description: 'a status written while the fetch waits' });
    expect(ended).toBe(false);
    expect(w.events).toMatchObject([{ type: 'Warning', reason: 'Throttled' }]);
    expect(cond(w.statuses[0], 'Synced')).toMatchObject({ status: 'False', reason: 'Throttled' });
    expect(cond(w.statuses[0], 'Ready')).toMatchObject({ status: 'True' });
    release();
    await reconciled;
    // Once the fetch went on: Synced again, over the Throttled status (never under it), no second event.
    expect(w.statuses).toHaveLength(2);
    expect(cond(w.statuses[1], 'Synced')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(w.events).toHaveLength(1);
  });

  it('a sync whose deadline passes while the vault pauses kvsync ends Throttled, Ready still True, with no SyncTimeout event', async () => {
    vaultGuards.configure({ longWaitMs: 50 });
    vaultGuards.guard('longstormkv.vault.azure.net').limiter.pause(100);
    // The storm outlasts the sync: the request is never answered before the deadline.
    const held = new Promise<void>(() => undefined);
    const w = world('longstormkv.vault.azure.net', { status: readyStatus(), held, syncTimeoutMs: 400 });
    const r = await w.reconciler.reconcile('shop/example');
    expect(r.retry).toBeDefined();
    const last = w.statuses.at(-1);
    expect(cond(last, 'Synced')).toMatchObject({ status: 'False', reason: 'Throttled' });
    expect(cond(last, 'Ready')).toMatchObject({ status: 'True' });
    expect(last?.conditions.find((c) => c.type === 'Synced')?.message).toMatch(/is throttling kvsync .*the sync gave up after .* and the last good Secrets stay/);
    expect(w.events).toMatchObject([{ type: 'Warning', reason: 'Throttled' }]);
    expect(w.events).toHaveLength(1);
  });

  it('a sync whose deadline passes on a slow answer, with no pause from the vault, still ends SyncTimeout', async () => {
    vaultGuards.configure({ longWaitMs: 50 });
    const held = new Promise<void>(() => undefined);
    const w = world('slowkv.vault.azure.net', { status: readyStatus(), held, syncTimeoutMs: 300 });
    await w.reconciler.reconcile('shop/example');
    const last = w.statuses.at(-1);
    expect(cond(last, 'Synced')).toMatchObject({ status: 'False', reason: 'SyncTimeout' });
    expect(cond(last, 'Ready')).toMatchObject({ status: 'False', reason: 'SyncTimeout' });
    expect(w.events).toMatchObject([{ type: 'Warning', reason: 'SyncTimeout' }]);
  });

  it('a never-synced KeyVaultSync asks for high priority; its wait on the budget is an event, its one status Synced', async () => {
    vaultGuards.configure({ longWaitMs: 50, requestsPer10s: 10 }); // burst 1, then one per 1.1 s
    const guard = vaultGuards.guard('budgetkv.vault.azure.net');
    await guard.limiter.acquire();
    const w = world('budgetkv.vault.azure.net');
    await w.reconciler.reconcile('shop/example');
    expect(w.priorities).toEqual(['high']);
    expect(w.statuses).toHaveLength(1);
    expect(cond(w.statuses[0], 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(w.events[0]).toMatchObject({ type: 'Warning', reason: 'Throttled', message: expect.stringMatching(/for vault "budgetkv"'s request budget \(kvsync sends at most 10 requests per 10 s/) as string });
  });

  it('records one Throttled event per transition, not one per retry', async () => {
    const failure: SyncFailure = { reason: 'Throttled', message: 'secret "a" in vault "kv": throttled by Key Vault (429)', object: 'a', retryAfterMs: 1000 };
    const w = world('retrykv.vault.azure.net', { status: readyStatus(), failure });
    for (let i = 0; i < 3; i++) {
      const r = await w.reconciler.reconcile('shop/example');
      expect(r.retry?.retryAfterMs).toBe(1000);
    }
    expect(w.events).toMatchObject([{ type: 'Warning', reason: 'Throttled' }]);
    expect(w.events).toHaveLength(1);
    expect(cond(w.statuses[2], 'Ready')).toMatchObject({ status: 'True' });
  });
});

describe('Reconciler: VaultUnavailable', () => {
  it('comes back when the breaker lets a probe through, without growing its own backoff', async () => {
    const failure: SyncFailure = { reason: 'VaultUnavailable', message: 'vault "kv" is unavailable: 5 requests in a row failed (last: HTTP 503)', retryAfterMs: 5000 };
    const w = world('downkv.vault.azure.net', { status: readyStatus(), failure });
    const r = await w.reconciler.reconcile('shop/example');
    expect(r.retry).toBeUndefined();
    expect(r.requeueAfterMs).toBeGreaterThanOrEqual(4000);
    expect(r.requeueAfterMs).toBeLessThanOrEqual(6000);
    expect(cond(w.statuses[0], 'Ready')).toMatchObject({ status: 'False', reason: 'VaultUnavailable' });
  });
});

describe('failureStatus', () => {
  it('keeps Ready True for Throttled only', () => {
    const prev = readyStatus();
    const throttled = failureStatus(prev, { generation: 3, now: NOW, reason: 'Throttled', message: 'm' });
    expect(cond(throttled, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(cond(throttled, 'Synced')).toMatchObject({ status: 'False', reason: 'Throttled' });
    const down = failureStatus(prev, { generation: 3, now: NOW, reason: 'VaultUnavailable', message: 'm' });
    expect(cond(down, 'Ready')).toMatchObject({ status: 'False', reason: 'VaultUnavailable' });
    expect(cond(failureStatus(undefined, { generation: 1, now: NOW, reason: 'Throttled', message: 'm' }), 'Ready')).toMatchObject({ status: 'False', reason: 'Throttled' });
  });
});

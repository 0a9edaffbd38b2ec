/**
 * The reconciler against in-test stand-ins for the pipeline, writer, status and events (unit tests
 * only; the integration tests run it on the real apiserver and emulator).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ResolvedKeyVaultSync } from '../api/index.ts';
import { designExampleSpec, keyVaultSync } from '../api/testing/fixtures.ts';
import { SyncError, type SyncFailureReason } from '../keyvault/errors.ts';
import { ControllerError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import type { DesiredConfigMap, DesiredSecret, PipelineFetchedObject, SyncFailure, SyncPipeline } from './pipeline.ts';
import { Reconciler, requiredFailures, type KeyVaultSyncObject, type OutputWriter } from './reconciler.ts';
import type { ApplyOptions, WriteOutcome } from './secret-writer.ts';
import { LAST_SYNC_TIME_REFRESH_MS, type StatusPatch } from './status.ts';

/** keyvault's SyncError, built positionally for brevity. */
class Failure extends SyncError {
  constructor(reason: SyncFailureReason, message: string, object?: string, retryAfterMs?: number) {
    super(reason, message, { ...(object === undefined ? {} : { object }), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
}

function fetchedFor(sync: ResolvedKeyVaultSync): PipelineFetchedObject[] {
  return sync.objects.map((object) => ({ object, version: `v-${object.name}`, contentType: object.type === 'certificate' ? 'application/x-pkcs12' : undefined, updatedOn: undefined, expiresOn: new Date('2027-01-01T00:00:00Z') }));
}

function world(opts: { failures?: SyncFailure[]; credentialError?: Error; checkError?: Error; statusError?: Error; leader?: boolean; obj?: KeyVaultSyncObject; fetchDelay?: Promise<void>; syncTimeoutMs?: number; outcome?: WriteOutcome; random?: () => number } = {}) {
  const obj: KeyVaultSyncObject = opts.obj ?? { ...(keyVaultSync(designExampleSpec()) as KeyVaultSyncObject), metadata: { name: 'example', namespace: 'shop', uid: 'u-1', generation: 3 } };
  const gone = { value: false };
  const applied: string[] = [];
  const applyOptions: (ApplyOptions | undefined)[] = [];
  const clock = { now: new Date('2026-06-01T00:00:00Z') };
  const pruned: string[] = [];
  const statuses: StatusPatch[] = [];
  const events: { type: string; reason: string; message: string }[] = [];
  const fetchModes: (boolean | undefined)[] = [];
  const forgotten: string[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const pipeline: SyncPipeline = {
    credentialFor: () => (opts.credentialError === undefined ? Promise.resolve({ credential: {}, identityKey: 'k' }) : Promise.reject(opts.credentialError)),
    fetchShared: async (sync, _auth, mode) => {
      fetchModes.push(mode?.fresh);
      signals.push(mode?.signal);
      await opts.fetchDelay;
      return { fetched: fetchedFor(sync), failures: opts.failures ?? [] };
    },
    forgetSync: (ns, name) => void forgotten.push(`${ns}/${name}`),
    renderOutputs: (sync) => ({
      secrets: sync.secrets.map((s): DesiredSecret => ({ name: s.name, type: s.type, labels: {}, annotations: {}, creationPolicy: s.creationPolicy, data: { k: Buffer.from('value-of-' + s.name) } })),
      configMaps: [],
    }),
  };
  const writer: OutputWriter = {
    check: () => (opts.checkError === undefined ? Promise.resolve() : Promise.reject(opts.checkError)),
    applySecret: (_o, d: DesiredSecret, o) => Promise.resolve(void (applied.push(d.name), applyOptions.push(o))).then(() => opts.outcome ?? ('created' as const)),
    applyConfigMap: (_o, d: DesiredConfigMap) => Promise.resolve(void applied.push(d.name)).then(() => 'created' as const),
    prune: (_o, kind, name) => Promise.resolve(void pruned.push(`${kind} ${name}`)).then(() => 'deleted' as const),
  };
  const recorder: EventRecorder = { record: (_t, type, reason, message) => Promise.resolve(void events.push({ type, reason, message })) };
  const reconciler = new Reconciler({
    getSync: (ns, name) => (ns === 'shop' && name === 'example' && !gone.value ? obj : undefined),
    listIdentities: () => [],
    pipeline,
    writer,
    status: { patchStatus: (_ns, _n, s) => (opts.statusError === undefined ? Promise.resolve(void statuses.push(s)) : Promise.reject(opts.statusError)) },
    events: recorder,
    macKey: Buffer.alloc(32, 1),
    isLeader: () => opts.leader ?? true,
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    syncTimeoutMs: opts.syncTimeoutMs,
    random: opts.random,
  });
  return { reconciler, applied, pruned, applyOptions, statuses, events, obj, fetchModes, forgotten, gone, signals, clock };
}

describe('Reconciler', () => {
  it('an apiserver that does not answer fails the sync as ApiServerUnreachable, and a status write it refuses too still returns a capped retry', async () => {
    const refused = (): Error => new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }) });
    const w = world({ checkError: refused() });
    const result = await w.reconciler.reconcile('shop/example');
    expect(w.statuses.at(-1)?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ApiServerUnreachable' });
    expect(result.retry?.maxDelayMs).toBe(5 * 60_000);
    const down = world({ checkError: refused(), statusError: refused() });
    await expect(down.reconciler.reconcile('shop/example')).resolves.toEqual({ retry: { retryAfterMs: undefined, maxDelayMs: 5 * 60_000 } });
    expect(down.applied).toEqual([]);
    // Any other failure of the status write is still the work queue's to report.
    const broken = world({ checkError: refused(), statusError: new RangeError('a bug') });
    await expect(broken.reconciler.reconcile('shop/example')).rejects.toThrow(RangeError);
  });

  it('ends a sync whose fetch never returns at its deadline: SyncTimeout naming the stage, the fetch\'s signal fired, a retry with backoff, nothing written', async () => {
    const w = world({ fetchDelay: new Promise<void>(() => undefined), syncTimeoutMs: 50 });
    const result = await w.reconciler.reconcile('shop/example');
    expect(result).toEqual({ retry: { retryAfterMs: undefined, maxDelayMs: 5 * 60_000 } });
    expect(w.applied).toEqual([]);
    expect(w.signals[0]?.aborted).toBe(true);
    const ready = w.statuses.at(-1)?.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'SyncTimeout', message: 'the sync did not finish within 50 ms (still fetching from vault "gebakv"); the last good Secrets stay' });
    expect(w.events.map((e) => e.reason)).toEqual(['SyncTimeout']);
  });

  it('never writes for a sync whose deadline passed, even when its fetch returns later', async () => {
    let release = (): void => undefined;
    const w = world({ fetchDelay: new Promise<void>((resolve) => (release = resolve)), syncTimeoutMs: 20 });
    await w.reconciler.reconcile('shop/example');
    const statuses = w.statuses.length;
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(w.applied).toEqual([]);
    expect(w.statuses).toHaveLength(statuses);
  });

  it('fetches fresh on the first sync, a new generation or a force-sync; refreshes are not fresh; a gone KeyVaultSync is forgotten', async () => {
    const w = world();
    await w.reconciler.reconcile('shop/example');
    await w.reconciler.reconcile('shop/example'); // refresh / drift repair / reported change
    w.obj.metadata = { ...w.obj.metadata, generation: 4 };
    await w.reconciler.reconcile('shop/example');
    await w.reconciler.reconcile('shop/example');
    w.obj.metadata = { ...w.obj.metadata, annotations: { 'kvsync.dev/force-sync': '1' } };
    await w.reconciler.reconcile('shop/example');
    await w.reconciler.reconcile('shop/example');
    expect(w.fetchModes).toEqual([true, false, true, false, true, false]);
    w.gone.value = true;
    await w.reconciler.reconcile('shop/example');
    expect(w.forgotten).toEqual(['shop/example']);
    w.gone.value = false;
    await w.reconciler.reconcile('shop/example');
    expect(w.fetchModes.at(-1)).toBe(true);
  });

  it('a failed sync is followed by a fresh fetch', async () => {
    const w = world({ failures: [new Failure('ObjectNotFound', 'secret "db" not found', 'db')] });
    await w.reconciler.reconcile('shop/example');
    await w.reconciler.reconcile('shop/example');
    expect(w.fetchModes).toEqual([true, true]);
  });

  it('writes every Secret, then a Ready status with versions, expiry and MACs, and requeues for refresh', async () => {
    const w = world();
    const result = await w.reconciler.reconcile('shop/example');
    expect(w.applied).toEqual(['shop-tls', 'shop-db']);
    const status = w.statuses[0];
    expect(status?.observedGeneration).toBe(3);
    expect(status?.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([['Synced', 'True', 'Synced'], ['Ready', 'True', 'Synced']]);
    expect(status?.objects?.find((o) => o.name === 'nginx')).toEqual({ name: 'nginx', version: 'v-nginx', contentType: 'application/x-pkcs12', expiresAt: '2027-01-01T00:00:00.000Z' });
    expect(status?.secrets?.map((s) => s.name)).toEqual(['shop-tls', 'shop-db']);
    expect(status?.lastSyncTime).toBe('2026-06-01T00:00:00.000Z');
    expect(JSON.stringify(status)).not.toContain('value-of');
    // 5m ± 10 %.
    expect(result.requeueAfterMs).toBeGreaterThanOrEqual(270_000);
    expect(result.requeueAfterMs).toBeLessThanOrEqual(330_000);
    // Creating the Secrets of a first sync is told by Ready, not by an event.
    expect(w.events).toEqual([]);
    expect(w.applyOptions).toEqual([{ skipIfCurrent: false }, { skipIfCurrent: false }]);
  });

  it('tells keyVaultDone once, after every Secret is written and before status; a failed fetch never tells it', async () => {
    const w = world();
    const seen: { applied: number; statuses: number }[] = [];
    await w.reconciler.reconcile('shop/example', { keyVaultDone: () => void seen.push({ applied: w.applied.length, statuses: w.statuses.length }) });
    expect(seen).toEqual([{ applied: 2, statuses: 0 }]);
    expect(w.statuses).toHaveLength(1);
    const failed = world({ failures: [new Failure('ObjectNotFound', 'secret "db" not found', 'db')] });
    let told = 0;
    await failed.reconciler.reconcile('shop/example', { keyVaultDone: () => void (told += 1) });
    expect(failed.statuses[0]?.conditions.find((c) => c.type === 'Ready')?.status).toBe('False');
    expect(told).toBe(0);
  });

  it('spreads refreshes by the injected random source: 5m ± 10 %', async () => {
    expect((await world({ random: () => 0 }).reconciler.reconcile('shop/example')).requeueAfterMs).toBe(270_000);
    expect((await world({ random: () => 0.5 }).reconciler.reconcile('shop/example')).requeueAfterMs).toBe(300_000);
  });

  it('a quiet refresh writes no status and records no event; lastSyncTime alone is rewritten only when it is old', async () => {
    const w = world();
    await w.reconciler.reconcile('shop/example');
    // The informer now holds what was written.
    w.obj.status = structuredClone(w.statuses[0]);
    const quiet = world({ obj: w.obj, outcome: 'unchanged' });
    quiet.clock.now = new Date(w.clock.now.getTime() + 30 * 60_000);
    await quiet.reconciler.reconcile('shop/example');
    await quiet.reconciler.reconcile('shop/example');
    expect(quiet.applyOptions).toEqual(Array.from({ length: 4 }, () => ({ skipIfCurrent: true })));
    expect(quiet.statuses).toEqual([]);
    expect(quiet.events).toEqual([]);
    // Past the refresh period (at most LAST_SYNC_TIME_REFRESH_MS), lastSyncTime is rewritten, and nothing else changes.
    quiet.clock.now = new Date(w.clock.now.getTime() + LAST_SYNC_TIME_REFRESH_MS);
    await quiet.reconciler.reconcile('shop/example');
    expect(quiet.statuses).toHaveLength(1);
    expect({ ...quiet.statuses[0], lastSyncTime: undefined }).toEqual({ ...w.statuses[0], lastSyncTime: undefined });
    expect(quiet.statuses[0]?.lastSyncTime).toBe(quiet.clock.now.toISOString());
    // A force-sync is a person asking: its status is written even when nothing changed.
    quiet.obj.metadata = { ...quiet.obj.metadata, annotations: { 'kvsync.dev/force-sync': '1' } };
    await quiet.reconciler.reconcile('shop/example');
    expect(quiet.statuses).toHaveLength(2);
  });

  it('writes status and records Updated when a refresh changed a Secret; an edited spec is applied whole', async () => {
    const w = world();
    await w.reconciler.reconcile('shop/example');
    w.obj.status = structuredClone(w.statuses[0]);
    // The status names the version before the rotation.
    w.obj.status!.objects![0]!.version = 'v-before';
    const rotated = world({ obj: w.obj, outcome: 'updated' });
    await rotated.reconciler.reconcile('shop/example');
    expect(rotated.statuses).toHaveLength(1);
    expect(rotated.events.map((e) => e.reason)).toEqual(['Updated']);
    w.obj.metadata = { ...w.obj.metadata, generation: 4 };
    const edited = world({ obj: w.obj, outcome: 'unchanged' });
    await edited.reconciler.reconcile('shop/example');
    expect(edited.applyOptions.every((o) => o?.skipIfCurrent === false)).toBe(true);
    // The new observedGeneration must be written.
    expect(edited.statuses).toHaveLength(1);
  });

  it('records Synced when a failed KeyVaultSync recovers with nothing to write', async () => {
    const failed = world({ failures: [new Failure('ObjectNotFound', 'secret "db-password" was not found', 'db-password')] });
    await failed.reconciler.reconcile('shop/example');
    failed.obj.status = structuredClone(failed.statuses[0]);
    const recovered = world({ obj: failed.obj, outcome: 'unchanged' });
    await recovered.reconciler.reconcile('shop/example');
    expect(recovered.events.map((e) => e.reason)).toEqual(['Synced']);
    expect(recovered.statuses).toHaveLength(1);
  });

  it('prunes the outputs the last sync wrote that the spec no longer names, after writing the others, and lists the rest in status', async () => {
    const base = keyVaultSync(designExampleSpec()) as KeyVaultSyncObject;
    const obj: KeyVaultSyncObject = { ...base, metadata: { name: 'example', namespace: 'shop', uid: 'u-1', generation: 4 }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'synced', lastTransitionTime: '2026-05-01T00:00:00Z' }], secrets: [{ name: 'shop-tls' }, { name: 'old-api' }, { name: 'shop-db' }], configMaps: [{ name: 'old-ca' }] } };
    const w = world({ obj });
    await w.reconciler.reconcile('shop/example');
    expect(w.applied).toEqual(['shop-tls', 'shop-db']);
    expect(w.pruned).toEqual(['Secret old-api', 'ConfigMap old-ca']);
    expect(w.statuses.at(-1)?.secrets?.map((x) => x.name)).toEqual(['shop-tls', 'shop-db']);
    expect(w.statuses.at(-1)?.configMaps).toEqual([]);
    expect(w.events.map((e) => e.message).join('\n')).toContain('Secret old-api (pruned: deleted)');
  });

  it('writes nothing when a required object failed, and reports the reason naming the object', async () => {
    const w = world({ failures: [new Failure('ObjectNotFound', 'secret "db-password" in vault "gebakv" was not found', 'db-password')] });
    const result = await w.reconciler.reconcile('shop/example');
    expect(w.applied).toEqual([]);
    expect(result.retry).toBeDefined();
    const ready = w.statuses[0]?.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ObjectNotFound' });
    expect(ready?.message).toContain('db-password');
    // The last good state stays described.
    expect(w.statuses[0]?.objects).toBeUndefined();
    expect(w.events).toMatchObject([{ type: 'Warning', reason: 'ObjectNotFound' }]);
  });

  it('passes a Throttled failure\'s Retry-After on to the queue', async () => {
    const w = world({ failures: [new Failure('Throttled', 'vault "gebakv" throttled the request for "nginx"', 'nginx', 7_000)] });
    const result = await w.reconciler.reconcile('shop/example');
    expect(result.retry?.retryAfterMs).toBe(7_000);
    expect(result.retry?.maxDelayMs).toBe(5 * 60_000);
  });

  it('caps the retry of a failed sync by its refresh interval (none for refreshInterval 0)', async () => {
    const spec = (refreshInterval: string): KeyVaultSyncObject => ({ ...(keyVaultSync({ ...designExampleSpec(), refreshInterval }) as KeyVaultSyncObject), metadata: { name: 'example', namespace: 'shop', uid: 'u-1', generation: 3 } });
    const entraDown = new Failure('AuthenticationFailed', 'authentication for vault "gebakv" failed: Entra ID refused the token request (AADSTS90033)');
    expect((await world({ obj: spec('10s'), credentialError: entraDown }).reconciler.reconcile('shop/example')).retry).toEqual({ retryAfterMs: undefined, maxDelayMs: 10_000 });
    expect((await world({ obj: spec('0'), credentialError: entraDown }).reconciler.reconcile('shop/example')).retry).toEqual({ retryAfterMs: undefined });
  });

  it('does not write a Secret that the writer refuses (SecretConflict) nor any other', async () => {
    const w = world({ checkError: new ControllerError('SecretConflict', 'Secret shop/shop-db exists and was not created by kvsync', { object: 'shop-db' }) });
    await w.reconciler.reconcile('shop/example');
    expect(w.applied).toEqual([]);
    expect(w.statuses[0]?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'SecretConflict' });
  });

  it('reports an identity failure from the credential provider', async () => {
    const w = world({ credentialError: new Failure('IdentityNotPermitted', 'KeyVaultIdentity "shared" does not grant namespace "shop"') });
    await w.reconciler.reconcile('shop/example');
    expect(w.statuses[0]?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'IdentityNotPermitted' });
  });

  it('reports an invalid spec and does not retry it', async () => {
    const spec = { ...designExampleSpec(), objects: [] };
    const w = world({ obj: { ...(keyVaultSync(spec) as KeyVaultSyncObject), metadata: { name: 'example', namespace: 'shop', uid: 'u', generation: 1 } } });
    const result = await w.reconciler.reconcile('shop/example');
    expect(result).toEqual({});
    expect(w.statuses[0]?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });

  it('neither writes nor reports when not the leader', async () => {
    const w = world({ leader: false });
    await w.reconciler.reconcile('shop/example');
    expect(w.applied).toEqual([]);
    expect(w.statuses).toEqual([]);
  });

  it('does nothing for a KeyVaultSync that is gone', async () => {
    const w = world();
    expect(await w.reconciler.reconcile('shop/other')).toEqual({});
    expect(w.applied).toEqual([]);
  });
});

describe('requiredFailures', () => {
  it('tolerates failures of optional objects, flagged or declared', () => {
    const w = world();
    const sync = { objects: [{ name: 'a', outputName: 'a', optional: true }, { name: 'b', outputName: 'b', optional: false }] } as unknown as ResolvedKeyVaultSync;
    const flagged = Object.assign(new Failure('ObjectNotFound', 'x', 'c'), { optional: true });
    const out = requiredFailures(sync, { fetched: [], failures: [new Failure('ObjectNotFound', 'a gone', 'a'), new Failure('ObjectNotFound', 'b gone', 'b'), flagged] });
    expect(out.map((f) => f.object)).toEqual(['b']);
    expect(w.applied).toEqual([]);
  });
});

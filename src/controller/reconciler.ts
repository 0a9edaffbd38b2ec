/**
 * The level-based reconciler of one KeyVaultSync: read it from the informer cache, parse, get a
 * credential, fetch, render, check every output, write them, then write status (subresource) and
 * events. A failed required object means nothing is written: the Secrets of the last good sync stay
 * as they are and the status says why.
 *
 * A refresh that finds everything as it was costs the apiserver nothing: Secrets already holding the
 * desired data are not applied (SecretWriter's `skipIfCurrent`), a status that would only move
 * `lastSyncTime` is not written (until that is older than LAST_SYNC_TIME_REFRESH_MS), and events are
 * recorded only for what a person acts on: data of an existing Secret changed, a recovery, a failure.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { failureCondition, type FailureReason } from '../api/condition-reasons.ts';
import { GROUP, VERSION, parseKeyVaultIdentity, parseKeyVaultSync } from '../api/index.ts';
import type { KeyVaultSyncStatus, ParseResult, ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, VaultHostPolicy } from '../api/index.ts';
import { findCondition } from './conditions.ts';
import { FORCE_SYNC_ANNOTATION } from './labels.ts';
import { dataMac } from './mac.ts';
import type { SyncMetrics } from './metrics.ts';
import { WrittenMacs } from './written-macs.ts';
import { certificateExpiries } from './certificate-expiries.ts';
import { apiServerUnreachable, ControllerError, NotLeaderError, recordFailure, unexpectedErrorFacts } from './errors.ts';
import type { EventRecorder, EventTarget } from './events.ts';
import type { PipelineFetchResult, SyncFailure, SyncPipeline, VaultWait } from './pipeline.ts';
import type { DesiredConfigMap, DesiredSecret } from './pipeline.ts';
import type { ApplyOptions, PruneOutcome, SyncOwner, WriteOutcome } from './secret-writer.ts';
import { LAST_SYNC_TIME_REFRESH_MS, READY, SYNCED, failureStatus, lastSyncTimePhase, statusWriteNeeded, successStatus, type StatusPatch } from './status.ts';
import { dataChanges, type SyncObserver, type SyncStep, type SyncStepObserver } from './sync-observer.ts';
import { jittered, type QueueResult } from './workqueue.ts';
import type { RequestPriority } from '../keyvault/vault-limiter.ts';
import { TemplateRenderError } from '../keyvault/errors.ts';
import { durationText, withDeadline } from '../util/deadline.ts';

export const PLURAL = 'keyvaultsyncs';

/** A KeyVaultSync as the informer holds it. */
export interface KeyVaultSyncObject extends k8s.KubernetesObject {
  spec?: unknown;
  status?: KeyVaultSyncStatus;
}

/** What the reconciler writes with; {@link SecretWriter} in production. */
export interface OutputWriter {
  check(owner: SyncOwner, secrets: readonly DesiredSecret[], configMaps: readonly DesiredConfigMap[]): Promise<void>;
  applySecret(owner: SyncOwner, desired: DesiredSecret, opts?: ApplyOptions): Promise<WriteOutcome>;
  applyConfigMap(owner: SyncOwner, desired: DesiredConfigMap, opts?: ApplyOptions): Promise<WriteOutcome>;
  prune(owner: SyncOwner, kind: 'Secret' | 'ConfigMap', name: string): Promise<PruneOutcome>;
}

export interface StatusWriter {
  patchStatus(namespace: string, name: string, status: StatusPatch): Promise<void>;
}

export interface ReconcilerDeps {
  getSync(namespace: string, name: string): KeyVaultSyncObject | undefined;
  listIdentities(): k8s.KubernetesObject[];
  pipeline: SyncPipeline;
  writer: OutputWriter;
  status: StatusWriter;
  events: EventRecorder;
  macKey: Buffer;
  /** Checked before every write: a replica that lost its lease stops writing at once. */
  isLeader(): boolean;
  /** The operator's vault host policy (its Azure environment); default: Azure's Key Vault hosts only. */
  vaults?: VaultHostPolicy;
  /** Parses a KeyVaultSync under `vaults` (kept per generation by the caller); default: parseKeyVaultSync each time. */
  parse?: ((obj: KeyVaultSyncObject) => ParseResult<ResolvedKeyVaultSync>) | undefined;
  log: Logger;
  now?: () => Date;
  /** [0, 1) source of the refresh jitter; default Math.random. */
  random?: () => number;
  /** Sync counter, duration and certificate expiry; none when undefined. */
  metrics?: SyncMetrics | undefined;
  /** Told of each successful sync after the writes (rollouts, certificate warnings); never throws. */
  observer?: SyncObserver | undefined;
  /** Told when the sync reaches each named step (tracing, fault injection); the sync waits for it. */
  steps?: SyncStepObserver | undefined;
  /** Where the MAC of each Secret's data is recorded before it is written (drift repair reads it). */
  written?: WrittenMacs | undefined;
  /** Deadline of one sync, from the credential to the status write; default {@link DEFAULT_SYNC_TIMEOUT_MS}. */
  syncTimeoutMs?: number | undefined;
}

/**
 * Default deadline of one sync: far above a healthy sync (well under a second per object), so only
 * a vault or identity provider that holds requests open reaches it. Its worker is then free again.
 */
export const DEFAULT_SYNC_TIMEOUT_MS = 120_000;

/** Splits a queue key `namespace/name`. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Failures that concern optional objects are tolerated; any other fails the sync. */
export function requiredFailures(sync: ResolvedKeyVaultSync, result: PipelineFetchResult): SyncFailure[] {
  return result.failures.filter((f) => {
    if ((f as { optional?: unknown }).optional === true) return false;
    const obj = f.object === undefined ? undefined : sync.objects.find((o) => o.name === f.object || o.outputName === f.object);
    return obj?.optional !== true;
  });
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  readonly #now: () => Date;
  readonly #random: () => number;
  /** MAC of the data applied per Secret: our own writes are not mistaken for drift. */
  readonly #written: WrittenMacs;
  /**
   * Per key, the uid, generation and force-sync value of the last successful sync: a fetch for anything
   * else (first sync in this process, an edit, a force-sync) is fresh; a refresh, drift repair or
   * reported change is not (kept reads the change detector confirms cost no Key Vault request).
   */
  readonly #syncedAs = new Map<string, string>();

  /** Keys whose last reported state is Throttled: one event per transition, not per retry or wait. */
  readonly #throttled = new Set<string>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#random = deps.random ?? Math.random;
    this.#written = deps.written ?? new WrittenMacs();
  }

  /**
   * One reconcile of `key`. `keyVaultDone` is told when the sync will ask Key Vault nothing more (its
   * Secrets are written; status and events are left): the work queue then frees the vault's slot.
   */
  async reconcile(key: string, hooks: { keyVaultDone?: () => void } = {}): Promise<QueueResult> {
    const started = performance.now();
    const outcome: { result?: string } = {};
    try {
      return await this.#reconcile(key, outcome, hooks);
    } finally {
      if (outcome.result !== undefined) this.#d.metrics?.syncFinished(outcome.result, (performance.now() - started) / 1000);
    }
  }

  async #reconcile(key: string, outcome: { result?: string }, hooks: { keyVaultDone?: () => void }): Promise<QueueResult> {
    const { namespace, name } = splitKey(key);
    const obj = this.#d.getSync(namespace, name);
    // Gone or going: owned Secrets are the garbage collector's.
    if (obj === undefined || obj.metadata?.deletionTimestamp !== undefined) {
      this.#d.metrics?.forgetSync(namespace, name);
      this.#syncedAs.delete(key);
      this.#d.pipeline.forgetSync?.(namespace, name);
      return {};
    }
    const uid = obj.metadata?.uid ?? '';
    const generation = obj.metadata?.generation;
    const target: EventTarget = { name, namespace, uid, resourceVersion: obj.metadata?.resourceVersion };
    const log = this.#d.log.child({ keyVaultSync: key, generation });

    const parsed = this.#d.parse?.(obj) ?? parseKeyVaultSync(obj, this.#d.vaults);
    if (!parsed.ok) {
      // No retry: a new generation (an edit) brings the object back to the queue.
      outcome.result = 'InvalidSpec';
      await this.#fail(obj, target, generation, 'InvalidSpec', parsed.error.message, log);
      return {};
    }
    const sync = parsed.value;
    // Never synced: its requests go before refreshes' in the vault limiter (ESO's starvation).
    const priority = obj.status?.lastSyncTime === undefined ? 'high' : 'normal';
    const owner: SyncOwner = { name, namespace, uid };
    const stage = { now: 'getting a credential' };
    const throttle: ThrottleTold = {};
    const timeoutMs = this.#d.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
    try {
      return await withDeadline(
        timeoutMs,
        undefined,
        ({ signal }) => this.#sync({ key, obj, sync, owner, target, log, outcome, stage, priority, signal, throttle, keyVaultDone: hooks.keyVaultDone }),
        () => deadlineError(timeoutMs, stage.now, throttle.paused),
      );
    } catch (err) {
      // A Throttled status still being written lands before the failure's, never over it.
      await throttle.told;
      if (err instanceof NotLeaderError) return {};
      const { reason, message, retryAfterMs, known } = failureCondition(apiServerUnreachable(err) ?? err);
      if (!known) log.error(unexpectedErrorFacts(err), 'unexpected reconcile error');
      outcome.result ??= reason;
      if (err instanceof TemplateRenderError) this.#d.metrics?.templateFailed(err.failure);
      await recordFailure(() => this.#fail(obj, target, generation, reason, message, log), log);
      // The vault's breaker is open: failing fast cost no request, and the breaker's cooldown (doubling
      // after each failed probe) is the backoff, so the KeyVaultSync comes back right when a probe may go.
      if (reason === 'VaultUnavailable' && retryAfterMs !== undefined) return { requeueAfterMs: jittered(retryAfterMs, 0.2, this.#random) };
      return { retry: failedSyncRetry(sync, retryAfterMs) };
    }
  }

  /**
   * One sync of a parsed KeyVaultSync: credential, fetch, render, writes, status. `signal` (the sync's
   * deadline) ends its Key Vault requests, and no write starts once it has fired; `stage.now` says
   * what the sync is waiting for.
   */
  async #sync(run: { key: string; obj: KeyVaultSyncObject; sync: ResolvedKeyVaultSync; owner: SyncOwner; target: EventTarget; log: Logger; outcome: { result?: string }; stage: { now: string }; priority: RequestPriority; signal: AbortSignal; throttle: ThrottleTold; keyVaultDone: (() => void) | undefined }): Promise<QueueResult> {
    const { key, obj, sync, owner, target, log, outcome, stage, priority, signal, throttle, keyVaultDone } = run;
    const { namespace, name, uid } = owner;
    const generation = obj.metadata?.generation;
    const mayWrite = (): void => {
      signal.throwIfAborted();
      if (!this.#d.isLeader()) throw new NotLeaderError();
    };
    const auth = await this.#d.pipeline.credentialFor(sync, { namespace, identities: this.#identities() });
    const { credential } = auth;
    const syncedAs = `${uid}|${generation ?? ''}|${obj.metadata?.annotations?.[FORCE_SYNC_ANNOTATION] ?? ''}`;
    stage.now = `fetching from vault "${sync.vault.name ?? sync.vault.url}"`;
    const before = this.#syncedAs.get(key);
    // A force-sync (or edit) since this process last synced the KeyVaultSync: its status is written,
    // so the person who asked sees lastSyncTime move even when nothing changed.
    const asked = before !== undefined && before !== syncedAs;
    // The vault's first long wait is told when the guard notes it, while the fetch may wait on (a 429
    // storm's pauses can outlast the sync's deadline), not only once the fetch returns.
    const tellThrottled = (wait: VaultWait): void => {
      if (wait.pausedForMs > 0) throttle.paused ??= wait;
      throttle.told ??= this.#throttledWait(obj, target, wait, log);
    };
    let result: PipelineFetchResult;
    try {
      result = await this.#d.pipeline.fetchShared(sync, auth, { fresh: before !== syncedAs, priority, signal, onThrottled: tellThrottled });
    } finally {
      await throttle.told;
    }
    if (result.throttled !== undefined) tellThrottled(result.throttled);
    // The status this sync wrote while the vault held it back (the conditions it changed): what follows builds on it.
    const shown = await throttle.told;
    const current: KeyVaultSyncStatus | undefined = shown === undefined ? obj.status : { ...obj.status, ...shown };
    const versions = new Map(result.fetched.filter((f) => (f.historyIndex ?? 0) === 0).map((f) => [f.object.outputName, f.version]));
    const reached = async (step: SyncStep, secret?: string): Promise<void> => {
      await this.#d.steps?.reached(step, { namespace, name, versions, ...(secret === undefined ? {} : { secret }) });
    };
    await reached('fetched');
    const selected = result.sync ?? sync;
    const failed = requiredFailures(selected, result);
    const first = failed[0];
    if (first !== undefined) {
      const message = failed.map((f) => f.message).join('; ');
      const retryAfterMs = Math.max(0, ...failed.map((f) => f.retryAfterMs ?? 0));
      throw new ControllerError(first.reason, message, { object: first.object, retryAfterMs });
    }
    for (const optional of result.failures) log.warn({ object: optional.object, reason: optional.reason }, 'optional object not synced');
    const rendered = this.#d.pipeline.renderOutputs(selected, result.fetched);
    stage.now = 'writing Secrets';
    mayWrite();
    await this.#d.writer.check(owner, rendered.secrets, rendered.configMaps);
    const changed: string[] = [];
    // This generation's spec was applied by an earlier successful sync: outputs already in place are not sent again.
    const ready = findCondition(obj.status?.conditions, READY);
    const apply: ApplyOptions = { skipIfCurrent: ready?.status === 'True' && generation !== undefined && ready.observedGeneration === generation };
    // Each Secret's data MAC, once: the write record, the change facts and status all use it.
    const macs = new Map<string, string>();
    for (const s of rendered.secrets) {
      mayWrite();
      const mac = dataMac(this.#d.macKey, { namespace, name: s.name, type: s.type }, s.data);
      macs.set(s.name, mac);
      const outcome = await this.#written.write(namespace, s.name, mac, () => this.#d.writer.applySecret(owner, s, apply));
      if (outcome !== 'unchanged') changed.push(`Secret ${s.name} (${outcome})`);
      await reached('secretWritten', s.name);
    }
    for (const c of rendered.configMaps) {
      mayWrite();
      const outcome = await this.#d.writer.applyConfigMap(owner, c, apply);
      if (outcome !== 'unchanged') changed.push(`ConfigMap ${c.name} (${outcome})`);
    }
    // Outputs the last successful sync wrote that the spec no longer names.
    const keptSecrets = new Set(rendered.secrets.map((x) => x.name));
    const keptConfigMaps = new Set(rendered.configMaps.map((x) => x.name));
    const gone = [
      ...(obj.status?.secrets ?? []).filter((x) => !keptSecrets.has(x.name)).map((x) => ({ kind: 'Secret' as const, name: x.name })),
      ...(obj.status?.configMaps ?? []).filter((x) => !keptConfigMaps.has(x.name)).map((x) => ({ kind: 'ConfigMap' as const, name: x.name })),
    ];
    for (const g of gone) {
      mayWrite();
      const pruned = await this.#d.writer.prune(owner, g.kind, g.name);
      if (pruned === 'deleted' || pruned === 'released' || pruned === 'retained') changed.push(`${g.kind} ${g.name} (pruned: ${pruned})`);
    }
    if (this.#d.observer !== undefined) {
      mayWrite();
      await this.#d.observer.synced({ sync, target, fetched: result.fetched, credential, ...dataChanges(obj.status, namespace, rendered.secrets, this.#d.macKey, macs) });
    }
    // Fetched, written, observed (the certificate checks may list versions): Key Vault is done with.
    keyVaultDone?.();
    const now = this.#now();
    const status = successStatus(current, { generation, now, namespace, fetched: result.fetched, secrets: rendered.secrets, configMaps: rendered.configMaps, macKey: this.#d.macKey, macs });
    await reached('beforeStatus');
    mayWrite();
    if (asked || statusWriteNeeded(current, status, now, LAST_SYNC_TIME_REFRESH_MS * lastSyncTimePhase(key))) await this.#patchStatus(namespace, name, status);
    outcome.result = 'success';
    this.#throttled.delete(`${namespace}/${name}`);
    this.#syncedAs.set(key, syncedAs);
    this.#d.metrics?.syncSucceeded(namespace, name, now);
    this.#d.metrics?.setCertificateExpiries(namespace, name, certificateExpiries(result.fetched));
    this.#d.metrics?.setSelectedObjects(namespace, name, sync.secrets.some((s) => (s.selectors?.length ?? 0) > 0) ? selected.objects.filter((o) => o.source === 'select').length : undefined);
    // Events for people: an output written after the first sync (a rotation, a repair), or a recovery
    // from a failure. The first sync's creations and quiet refreshes are in the status (Ready) only.
    if (changed.length > 0 && ready !== undefined) await this.#d.events.record(target, 'Normal', 'Updated', `wrote ${changed.join(', ')}`);
    else if (ready !== undefined && ready.status !== 'True') await this.#d.events.record(target, 'Normal', 'Synced', 'all outputs up to date');
    if (changed.length > 0) log.info({ objects: result.fetched.map((f) => ({ name: f.object.outputName, version: f.version })), changed }, 'synced');
    else log.debug({ objects: result.fetched.length }, 'synced; nothing changed');
    return sync.refreshIntervalMs > 0 ? { requeueAfterMs: jittered(sync.refreshIntervalMs, 0.1, this.#random) } : {};
  }

  #identities(): ResolvedKeyVaultIdentity[] {
    const out: ResolvedKeyVaultIdentity[] = [];
    for (const o of this.#d.listIdentities()) {
      const parsed = parseKeyVaultIdentity(o);
      if (parsed.ok) out.push(parsed.value);
    }
    return out;
  }

  /**
   * The fetch waits long on the vault (it may go on or fail later): told once per transition, as a
   * `Warning Throttled` event, and, when the vault itself paused kvsync (429, 503 with Retry-After), as
   * `Synced=False` `Throttled` while the sync waits (`Ready` as {@link failureStatus} keeps it); the
   * sync's end writes its own status over it. A wait for kvsync's own request budget is the event only:
   * it ends by itself, and refreshes that queue for the budget would flip the condition each time.
   * Resolves with the status written, if any; never rejects (the sync's end writes status anyway).
   */
  async #throttledWait(obj: KeyVaultSyncObject, target: EventTarget, wait: VaultWait, log: Logger): Promise<StatusPatch | undefined> {
    const message = throttledMessage(wait);
    log.warn({ reason: 'Throttled', detail: message }, 'sync waited for the vault');
    if (!this.#d.isLeader()) return undefined;
    const key = `${target.namespace}/${target.name}`;
    const wasThrottled = this.#throttled.has(key) || findCondition(obj.status?.conditions, SYNCED)?.reason === 'Throttled';
    this.#throttled.add(key);
    if (wasThrottled) return undefined;
    try {
      await this.#d.events.record(target, 'Warning', 'Throttled', message);
      if (wait.pausedForMs === 0) return undefined;
      const status = failureStatus(obj.status, { generation: obj.metadata?.generation, now: this.#now(), reason: 'Throttled', message });
      await this.#patchStatus(target.namespace, target.name, status);
      return status;
    } catch (err) {
      log.warn({ reason: 'Throttled', ...unexpectedErrorFacts(err) }, 'could not record the wait for the vault');
      return undefined;
    }
  }

  async #fail(obj: KeyVaultSyncObject, target: EventTarget, generation: number | undefined, reason: FailureReason, message: string, log: Logger): Promise<void> {
    log.warn({ reason, detail: message }, 'sync failed');
    if (!this.#d.isLeader()) return;
    const previous = findCondition(obj.status?.conditions, READY);
    await this.#patchStatus(target.namespace, target.name, failureStatus(obj.status, { generation, now: this.#now(), reason, message }));
    // One event per distinct failure, not one per retry; Throttled once per transition (its message
    // carries the wait, and Ready may stay True).
    const key = `${target.namespace}/${target.name}`;
    const wasThrottled = this.#throttled.has(key) || findCondition(obj.status?.conditions, SYNCED)?.reason === 'Throttled';
    if (reason === 'Throttled') this.#throttled.add(key);
    else this.#throttled.delete(key);
    if (reason === 'Throttled' ? !wasThrottled : previous?.status !== 'False' || previous.reason !== reason || previous.message !== message) {
      await this.#d.events.record(target, 'Warning', reason, message);
    }
  }

  async #patchStatus(namespace: string, name: string, status: StatusPatch): Promise<void> {
    if (!this.#d.isLeader()) throw new NotLeaderError();
    await this.#d.status.patchStatus(namespace, name, status);
  }
}

/** The Throttled status a sync is writing (or wrote) while it waits on the vault, told at most once per sync. */
interface ThrottleTold {
  told?: Promise<StatusPatch | undefined>;
  /** The first wait this sync was told of in which the vault itself paused kvsync (429, 503 with Retry-After). */
  paused?: VaultWait;
}

/**
 * The failure of a sync whose deadline passed (still at `stage`): `SyncTimeout`, or, when the vault was
 * pausing kvsync meanwhile (`paused`), `Throttled` (Ready stays True on the last good Secrets), so a long
 * 429 storm shows one condition and one event from start to end.
 */
function deadlineError(timeoutMs: number, stage: string, paused: VaultWait | undefined): ControllerError {
  if (paused !== undefined) return new ControllerError('Throttled', `${throttledMessage(paused)}; the sync gave up after ${durationText(timeoutMs)} and the last good Secrets stay`);
  return new ControllerError('SyncTimeout', `the sync did not finish within ${durationText(timeoutMs)} (still ${stage}); the last good Secrets stay`);
}

/**
 * The retry of a failed sync: the work queue's backoff, but never longer than the refresh interval, so
 * a KeyVaultSync is tried again within one interval of Entra ID or the vault coming back, as its user
 * expects of that interval. Key Vault's cost stays bounded: a failing KeyVaultSync is tried no more
 * often than a healthy one refreshes, a Retry-After (`retryAfterMs`) still wins, and every request
 * still passes the vault's limiter and breaker.
 */
export function failedSyncRetry(sync: Pick<ResolvedKeyVaultSync, 'refreshIntervalMs'>, retryAfterMs: number | undefined): NonNullable<QueueResult['retry']> {
  return { retryAfterMs, ...(sync.refreshIntervalMs > 0 ? { maxDelayMs: sync.refreshIntervalMs } : {}) };
}

/** What a long wait on the vault means for the KeyVaultSync, in words (no values). */
export function throttledMessage(wait: VaultWait): string {
  return wait.pausedForMs > 0
    ? `vault "${wait.vault}" is throttling kvsync (429, or 503 with Retry-After): every request to it was paused for ${Math.ceil(wait.pausedForMs / 1000)} s (Retry-After, backoff)`
    : `waited ${Math.ceil(wait.waitedMs / 1000)} s for vault "${wait.vault}"'s request budget (kvsync sends at most ${wait.requestsPer10s} requests per 10 s to a vault)`;
}

/** Writes status through the status subresource with a JSON merge patch. */
export class KubeStatusWriter implements StatusWriter {
  readonly #api: k8s.CustomObjectsApi;

  constructor(kc: k8s.KubeConfig) {
    this.#api = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async patchStatus(namespace: string, name: string, status: StatusPatch): Promise<void> {
    try {
      await this.#api.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (err) {
      // The KeyVaultSync was deleted meanwhile: nothing to report on.
      if (err instanceof k8s.ApiException && err.code === 404) return;
      throw err;
    }
  }
}

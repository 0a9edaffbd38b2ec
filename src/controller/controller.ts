/**
 * The controller runtime: informers (KeyVaultSync, KeyVaultIdentity, kvsync-managed Secrets), ONE
 * work queue, the reconciler, leader election, health endpoints and graceful shutdown. Used by
 * `kvsync controller` and run in-process by the integration tests.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { GROUP, VERSION } from '../api/index.ts';
import type { RunningEventGridEndpoint } from '../eventgrid/endpoint.ts';
import { startEventGridPush, type EventGridOptions } from '../eventgrid/start.ts';
import type { AzureEnvironment } from '../keyvault/azure-environment.ts';
import { KeyVaultPipeline } from '../keyvault/pipeline.ts';
import { DEFAULT_VAULT_REQUESTS_PER_10S, vaultGuards } from '../keyvault/vault-guard.ts';
import { KubeEventRecorder } from './events.ts';
import { startHealthServer, type HealthServer } from './health.ts';
import { ResilientInformer, watchFailureLevel } from './informer.ts';
import { shareKubeDispatcher } from './kube-dispatcher.ts';
import { CertificateWatch } from './certificate-watch.ts';
import { FORCE_SYNC_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
import { KubeLeaseClient, LeaderElector } from './leader-election.ts';
import { loadOrCreateMacKey, macMatches } from './mac.ts';
import { createControllerMetrics, type ControllerMetrics } from './metrics.ts';
import type { SyncPipeline } from './pipeline.ts';
import { KubeStatusWriter, PLURAL, Reconciler, type KeyVaultSyncObject } from './reconciler.ts';
import { KubeWorkloadApi, RolloutTrigger } from './rollouts.ts';
import { SecretWriter } from './secret-writer.ts';
import { observers } from './sync-observer.ts';
import { startControllerWebhook, type ControllerWebhook, type ControllerWebhookOptions } from './webhook.ts';
import { WorkQueue, type QueuePriority } from './workqueue.ts';
import { isKvsyncError } from '../util/errors.ts';

export const DEFAULT_OPERATOR_NAMESPACE = 'kvsync-system';
export const LEASE_NAME = 'kvsync-controller';

export interface ControllerOptions {
  kubeConfig: k8s.KubeConfig;
  azure: AzureEnvironment;
  /** The operator's namespace: MAC key Secret and leader Lease live here. */
  namespace?: string;
  /** Only watch KeyVaultSyncs (and Secrets) in this namespace; default all namespaces. */
  watchNamespace?: string;
  concurrency?: number;
  leaderElect?: boolean;
  leaseName?: string;
  /** Leader-election timings (defaults 15 s / 10 s / 2 s). */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Identity in the Lease; default `<hostname>_<uuid>`. */
  identity?: string;
  /** `host:port` for /healthz and /readyz; none when undefined. */
  healthAddr?: string;
  /** Periodic full relist of the informers; default 10 min. */
  relistIntervalMs?: number;
  /** Serve the pod admission webhook (on every replica, leader or not); none when undefined. */
  webhook?: ControllerWebhookOptions;
  /** Serve the Event Grid push-refresh endpoint (every replica; only the leader refreshes); none when undefined. */
  eventGrid?: EventGridOptions;
  log?: Logger;
  /** Warn (event CertificateExpiring) when a synced certificate expires within this; default 30 days. */
  expiryWarningWindowMs?: number;
  /** Newer-version check of pinned certificates at most this often per object; default 1 h. */
  newerVersionCheckIntervalMs?: number;
  /**
   * Key Vault requests per vault in any 10 s span (default 2,000, half of Key Vault's published
   * limit); process-wide, shared by every identity (src/keyvault/vault-guard.ts).
   */
  vaultRequestsPer10s?: number;
  /** Most bytes of object reads the shared object cache keeps (least recently used evicted); default 64 MiB. */
  objectCacheMaxBytes?: number;
  /** Overrides the Key Vault pipeline (unit tests only). */
  pipeline?: SyncPipeline;
}

export interface RunningController {
  identity: string;
  isLeader(): boolean;
  /** Bound health address, when a health server runs. */
  healthAddress: string | undefined;
  /** The admission webhook, when `webhook` was given. */
  webhook: ControllerWebhook | undefined;
  /** The Event Grid push-refresh endpoint, when `eventGrid` was given. */
  eventGrid: RunningEventGridEndpoint | undefined;
  /** This controller's metrics (also on `/metrics` of the health server). */
  metrics: ControllerMetrics;
  /** Stops informers, drains in-flight reconciles, releases the lease. Idempotent. */
  stop(): Promise<void>;
}

interface SecretObject extends k8s.V1Secret {
  metadata?: k8s.V1ObjectMeta;
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const kc = opts.kubeConfig;
  // One connection pool for every API call: client-node builds a new one per request (kube-dispatcher.ts).
  shareKubeDispatcher(kc);
  const log = opts.log ?? pino({ name: 'kvsync-controller' });
  const namespace = opts.namespace ?? DEFAULT_OPERATOR_NAMESPACE;
  const identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  vaultGuards.configure({ requestsPer10s: opts.vaultRequestsPer10s ?? DEFAULT_VAULT_REQUESTS_PER_10S });
  const macKey = await loadOrCreateMacKey(core, namespace);

  let leader = opts.leaderElect === false;
  const isLeader = (): boolean => leader;
  const metrics = createControllerMetrics();
  const keyOf = (o: k8s.KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  // Never synced: ahead of every refresh in the queue (and in the vault limiter, see reconciler.ts).
  const priorityOf = (o: KeyVaultSyncObject): QueuePriority => (o.status?.lastSyncTime === undefined ? 'high' : 'normal');

  const ns = opts.watchNamespace;
  const syncs = new ResilientInformer<KeyVaultSyncObject>({
    kc,
    path: ns === undefined ? `/apis/${GROUP}/${VERSION}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
    list: async () =>
      (ns === undefined
        ? await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
        : await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns })) as k8s.KubernetesListObject<KeyVaultSyncObject>,
    onAdd: (o) => queue.add(keyOf(o), priorityOf(o)),
    onUpdate: (o, old) => {
      // Status writes also bump the resourceVersion: only a new generation or force-sync re-fetches.
      const forced = o.metadata?.annotations?.[FORCE_SYNC_ANNOTATION] !== old?.metadata?.annotations?.[FORCE_SYNC_ANNOTATION];
      if (old === undefined || o.metadata?.generation !== old.metadata?.generation || forced) {
        if (forced) log.info({ keyVaultSync: keyOf(o) }, 'force-sync requested');
        queue.add(keyOf(o), 'high');
      }
    },
    onDelete: (o) => {
      queue.cancel(keyOf(o));
      pipeline.forgetSync?.(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
      metrics.forgetSync(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
    },
    onError: (err, restartInMs) => log[watchFailureLevel(err, restartInMs)]({ informer: 'keyvaultsyncs', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
  });
  const identities = new ResilientInformer<k8s.KubernetesObject>({
    kc,
    path: `/apis/${GROUP}/${VERSION}/keyvaultidentities`,
    list: async () => (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities' })) as k8s.KubernetesListObject<k8s.KubernetesObject>,
    // A grant changed: every sync may be affected (they are few; reconciles are level-based).
    onAdd: () => enqueueAll(),
    onUpdate: () => enqueueAll(),
    onDelete: () => enqueueAll(),
    onError: (err, restartInMs) => log[watchFailureLevel(err, restartInMs)]({ informer: 'keyvaultidentities', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
  });
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SYNC_LABEL}`;
  /** Out-of-band edits (data no longer matching the MAC in status) and deletes are repaired. */
  const repair = (s: SecretObject, deleted: boolean): void => {
    const owner = s.metadata?.labels?.[SYNC_LABEL];
    const sNs = s.metadata?.namespace;
    if (owner === undefined || sNs === undefined) return;
    const sync = syncs.get(owner, sNs);
    if (sync === undefined) return;
    const name = s.metadata?.name ?? '';
    const recorded = reconciler.writtenMac(sNs, name) ?? sync.status?.secrets?.find((x) => x.name === name)?.dataMAC;
    if (recorded === undefined) return;
    const data: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64');
    if (deleted || !macMatches(macKey, recorded, { namespace: sNs, name, type: s.type ?? 'Opaque' }, data)) {
      log.info({ keyVaultSync: `${sNs}/${owner}`, secret: name, deleted }, 'managed Secret changed out of band; repairing');
      queue.add(`${sNs}/${owner}`, 'high');
    }
  };
  const secrets = new ResilientInformer<SecretObject>({
    kc,
    path: ns === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${ns}/secrets`,
    labelSelector: selector,
    list: () => (ns === undefined ? core.listSecretForAllNamespaces({ labelSelector: selector }) : core.listNamespacedSecret({ namespace: ns, labelSelector: selector })),
    onUpdate: (s) => repair(s, false),
    onDelete: (s) => repair(s, true),
    onError: (err, restartInMs) => log[watchFailureLevel(err, restartInMs)]({ informer: 'secrets', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
  });

  const pipeline = opts.pipeline ?? new KeyVaultPipeline(kc, opts.azure, { log, isActive: isLeader, ...(opts.objectCacheMaxBytes === undefined ? {} : { objectCache: { maxBytes: opts.objectCacheMaxBytes } }) });
  const events = new KubeEventRecorder(kc, { instance: identity, onError: (err) => log.warn({ err: errorSummary(err) }, 'recording an event failed') });
  const reconciler = new Reconciler({
    getSync: (n, name) => syncs.get(name, n),
    listIdentities: () => [...identities.list()],
    pipeline,
    writer: new SecretWriter(kc),
    status: new KubeStatusWriter(kc),
    events,
    // Rollouts on real data changes, then certificate warnings (docs/operator.md "Rollouts", "Certificate expiry").
    observer: observers(
      new RolloutTrigger({ api: new KubeWorkloadApi(kc), events, macKey, isLeader, log, metrics }),
      new CertificateWatch({ events, log, metrics, windowMs: opts.expiryWarningWindowMs, checkIntervalMs: opts.newerVersionCheckIntervalMs, versions: pipeline }),
    ),
    macKey,
    isLeader,
    vaults: opts.azure,
    log,
    metrics,
  });
  const queue = new WorkQueue({
    concurrency: opts.concurrency ?? 4,
    // A replica that is not the leader drops its work; it enqueues everything when it becomes leader.
    handler: (key) => (isLeader() ? reconciler.reconcile(key) : Promise.resolve({})),
    onError: (key, err) => log.error({ keyVaultSync: key, err: errorSummary(err) }, 'reconcile failed; retrying with backoff'),
    onWaited: (seconds) => metrics.waited(seconds),
  });
  metrics.setQueueDepthSource(() => queue.length);
  metrics.setObjectCacheBytesSource(() => pipeline.objectCacheBytes ?? 0);
  // Objects the change detectors found changed: exactly their KeyVaultSyncs are refreshed (not fresh).
  const unwatchChanges = pipeline.onObjectsChanged?.((keys) => {
    for (const k of keys) queue.add(k);
  });
  const enqueueAll = (): void => {
    for (const o of syncs.list()) queue.add(keyOf(o), priorityOf(o));
  };

  let stopping: Promise<void> | undefined;
  let elector: LeaderElector | undefined;
  if (opts.leaderElect !== false) {
    elector = new LeaderElector({
      identity,
      client: new KubeLeaseClient(kc, namespace, opts.leaseName ?? LEASE_NAME),
      ...(opts.leaseDurationMs === undefined ? {} : { leaseDurationMs: opts.leaseDurationMs }),
      ...(opts.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: opts.renewDeadlineMs }),
      ...(opts.retryPeriodMs === undefined ? {} : { retryPeriodMs: opts.retryPeriodMs }),
      onStartedLeading: () => {
        leader = true;
        log.info({ identity }, 'became leader');
        enqueueAll();
      },
      onStoppedLeading: () => {
        leader = false;
        // Only the leader watches vaults for changes: a follower costs Key Vault nothing.
        pipeline.stopChangeDetection?.();
        // Giving the lease back on shutdown is routine; losing it while running is worth a warning.
        if (stopping === undefined) log.warn({ identity }, 'lost leadership; stopped writing');
        else log.info({ identity }, 'released leadership');
      },
      onError: (err) => log.warn({ err: errorSummary(err) }, 'leader election request failed'),
    });
  }

  await Promise.all([syncs.start(), identities.start(), secrets.start()]);
  queue.start();
  elector?.start();
  const relist = setInterval(() => {
    for (const inf of [syncs, identities, secrets]) inf.relist().catch((err: unknown) => log.warn({ err: errorSummary(err) }, 'relist failed'));
  }, opts.relistIntervalMs ?? 10 * 60_000);
  relist.unref();
  let health: HealthServer | undefined;
  if (opts.healthAddr !== undefined) health = await startHealthServer(opts.healthAddr, { ready: () => syncs.synced && identities.synced && secrets.synced, metrics: () => metrics.scrape() });
  let webhook: ControllerWebhook | undefined;
  let eventGrid: RunningEventGridEndpoint | undefined;
  if (opts.webhook !== undefined || opts.eventGrid !== undefined) {
    try {
      if (opts.webhook !== undefined) webhook = await startControllerWebhook(kc, namespace, opts.webhook, log, opts.azure);
      if (opts.eventGrid !== undefined) {
        eventGrid = await startEventGridPush({
          options: opts.eventGrid,
          azure: opts.azure,
          listSyncs: () => syncs.list(),
          // A push is a known change: ahead of periodic refreshes.
          enqueue: (key) => queue.add(key, 'high'),
          // Drops the kept reads of the object, so the refresh reads the new version (KeyVaultPipeline.markChanged).
          ...(pipeline.markChanged === undefined ? {} : { markChanged: (c) => pipeline.markChanged?.(c.vaultUrl ?? `https://${c.vaultName}.vault.azure.net`, c.objectName, c.version) }),
          isLeader,
          registry: metrics.registry,
          log,
          kubeConfig: kc,
          namespace,
        });
      }
    } catch (err) {
      await webhook?.close();
      clearInterval(relist);
      await Promise.all([syncs.stop(), identities.stop(), secrets.stop()]);
      await queue.shutdown();
      await elector?.stop();
      await health?.close();
      metrics.close();
      unwatchChanges?.();
      pipeline.close?.();
      throw err;
    }
  }
  log.info({ identity, namespace, watchNamespace: ns ?? '(all)', leaderElect: elector !== undefined, health: health?.address, webhookPort: webhook?.port, eventGrid: eventGrid?.address }, 'controller started');

  return {
    identity,
    isLeader,
    healthAddress: health?.address,
    webhook,
    eventGrid,
    metrics,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(relist);
        await webhook?.close();
        await eventGrid?.close();
        await Promise.all([syncs.stop(), identities.stop(), secrets.stop()]);
        await queue.shutdown();
        await elector?.stop();
        leader = false;
        await health?.close();
        metrics.close();
        unwatchChanges?.();
        pipeline.close?.();
        log.info({ identity }, 'controller stopped');
      })()),
  };
}

/** An error's name, status code and first line — never a request/response body. */
export function errorSummary(err: unknown): { name: string; code?: number; message: string } {
  if (err instanceof k8s.ApiException) return { name: 'ApiException', code: err.code, message: `HTTP ${err.code}` };
  if (err instanceof Error) {
    return { name: isKvsyncError(err) ? err.reason : err.name, message: (err.message.split('\n')[0] ?? '').slice(0, 300) };
  }
  return { name: typeof err, message: '' };
}

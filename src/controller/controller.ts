/**
 * The controller's wiring, and nothing else: constructs the watches (KeyVaultSync, KeyVaultIdentity,
 * kvsync-managed Secrets, and the Ingresses and Gateways that ask for TLS Secrets), ONE work queue, the reconciler, drift repair, leader election, health
 * endpoints, the optional webhook and Event Grid endpoint; connects them; starts them; and has one
 * teardown. Used by `kvsync controller` and run in-process by the integration tests.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import type { RunningEventGridEndpoint } from '../eventgrid/endpoint.ts';
import { startEventGridPush, type EventGridOptions } from '../eventgrid/start.ts';
import type { AzureEnvironment } from '../keyvault/azure-environment.ts';
import { KeyVaultPipeline } from '../keyvault/pipeline.ts';
import { KeyVaultAccess } from '../keyvault/access.ts';
import { guardTokenRefresh } from '../keyvault/token-refresh-guard.ts';
import { DEFAULT_VAULT_REQUESTS_PER_10S } from '../keyvault/vault-guard.ts';
import { CertificateWatch } from './certificate-watch.ts';
import { DriftRepair } from './drift-repair.ts';
import { errorSummary } from './error-summary.ts';
import { startFanOut } from './fan-out-start.ts';
import { KubeEventRecorder } from './events.ts';
import { startHealthServer, type HealthServer } from './health.ts';
import { shareKubeDispatcher } from './kube-dispatcher.ts';
import { KubeLeaseClient, LeaderElector } from './leader-election.ts';
import { loadOrCreateMacKey } from './mac.ts';
import { createControllerMetrics, type ControllerMetrics } from './metrics.ts';
import type { SyncPipeline } from './pipeline.ts';
import { KubeStatusWriter, Reconciler, splitKey } from './reconciler.ts';
import { KubeWorkloadApi, RolloutTrigger } from './rollouts.ts';
import { SecretWriter } from './secret-writer.ts';
import { defaultMaxWorkersPerVault, SyncVaults } from './sync-vaults.ts';
import { observers, type SyncStepObserver } from './sync-observer.ts';
import { TlsSources } from './tls-sources.ts';
import { enqueueChanged, keyOf, priorityOf, watchKeyVaultIdentities, watchKeyVaultSyncs, watchManagedSecrets } from './watches.ts';
import { startControllerWebhook, type ControllerWebhook, type ControllerWebhookOptions } from './webhook.ts';
import { WorkQueue } from './workqueue.ts';
import { WrittenMacs } from './written-macs.ts';

export const DEFAULT_OPERATOR_NAMESPACE = 'kvsync-system';
export const LEASE_NAME = 'kvsync-controller';
/**
 * Reconciles at once by default: with the per-vault bulkhead (half of it), four KeyVaultSyncs of one
 * vault run together. Measured with the bench at N = 1,000 on 2 cores: against 4 workers (2 per vault),
 * rotations of shared objects (each rewriting 15 KeyVaultSyncs) were seen in p50 9.8 s instead of
 * 14.3 s, max 17.7 s instead of 23.6 s, for the same cold start and CPU.
 */
export const DEFAULT_CONCURRENCY = 8;

export interface ControllerOptions {
  kubeConfig: k8s.KubeConfig;
  azure: AzureEnvironment;
  /** The operator's namespace: MAC key Secret and leader Lease live here. */
  namespace?: string;
  /** Only watch KeyVaultSyncs (and Secrets) in this namespace; default all namespaces. */
  watchNamespace?: string;
  /**
   * Serve ClusterKeyVaultSyncs (they write into every namespace they select, so they need the RBAC of
   * all namespaces); default: when `watchNamespace` is unset.
   */
  fanOut?: boolean;
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
   * limit); shared by every identity of this controller (src/keyvault/vault-guard.ts).
   */
  vaultRequestsPer10s?: number;
  /** Most bytes of object reads the shared object cache keeps (least recently used evicted); default 64 MiB. */
  objectCacheMaxBytes?: number;
  /**
   * KeyVaultSyncs of one vault reconciled at once (default ⌈concurrency/2⌉): a vault that holds its
   * requests open can never take every worker.
   */
  maxWorkersPerVault?: number;
  /** Deadline of one sync (default 2 min): it then fails with SyncTimeout and is retried with backoff. */
  syncTimeoutMs?: number;
  /** Deadline of one Azure request and of one token (default 30 s); overrides `azure.requestTimeoutMs`. */
  azureRequestTimeoutMs?: number;
  /** The Key Vault access (guards, clients, metric observers) of `pipeline` when one is given, so its requests feed this controller's metrics. */
  keyVault?: KeyVaultAccess;
  /** Told when a sync reaches each of its steps (fetched, each Secret written, status next); none when undefined. */
  syncSteps?: SyncStepObserver;
  /**
   * Watch Ingresses (and Gateways, when served) for kvsync's TLS annotations and derive their
   * KeyVaultSyncs (tls-sources.ts); default true.
   */
  tlsSources?: boolean;
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
  /** The guards (request budget, breakers), clients and metric observers of this controller's Key Vault requests. */
  keyVault: KeyVaultAccess;
  /** The Key Vault pipeline (reads, caches, change detection) this controller syncs through. */
  pipeline: SyncPipeline;
  /** Stops informers, drains in-flight reconciles, releases the lease. Idempotent. */
  stop(): Promise<void>;
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const kc = opts.kubeConfig;
  // One connection pool for every API call: client-node builds a new one per request (kube-dispatcher.ts).
  shareKubeDispatcher(kc);
  const log = opts.log ?? pino({ name: 'kvsync-controller' });
  const namespace = opts.namespace ?? DEFAULT_OPERATOR_NAMESPACE;
  const identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
  const macKey = await loadOrCreateMacKey(kc.makeApiClient(k8s.CoreV1Api), namespace);

  // Construct.
  let leader = opts.leaderElect === false;
  // Leading, and (with election) the lease renewed recently enough to still be ours at this moment.
  const isLeader = (): boolean => leader && (elector === undefined || elector.isLeader());
  const keyVault = opts.keyVault ?? new KeyVaultAccess();
  keyVault.guards.configure({ requestsPer10s: opts.vaultRequestsPer10s ?? DEFAULT_VAULT_REQUESTS_PER_10S });
  const metrics = createControllerMetrics(keyVault);
  const written = new WrittenMacs();
  const azure = opts.azureRequestTimeoutMs === undefined ? opts.azure : { ...opts.azure, requestTimeoutMs: opts.azureRequestTimeoutMs };
  const pipeline = opts.pipeline ?? new KeyVaultPipeline(kc, azure, { access: keyVault, log, isActive: isLeader, ...(opts.objectCacheMaxBytes === undefined ? {} : { objectCache: { maxBytes: opts.objectCacheMaxBytes } }) });
  const events = new KubeEventRecorder(kc, { instance: identity, onError: (err) => log.warn({ err: errorSummary(err) }, 'recording an event failed') });
  const enqueueAll = (): void => {
    for (const o of syncs.list()) queue.add(keyOf(o), priorityOf(o));
    fanOut?.enqueueAll();
  };
  const syncs = watchKeyVaultSyncs({
    kc,
    log,
    namespace: opts.watchNamespace,
    enqueue: (key, priority) => queue.add(key, priority),
    deleted: (o) => {
      queue.cancel(keyOf(o));
      vaults.forget(keyOf(o));
      pipeline.forgetSync?.(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
      metrics.forgetSync(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
    },
  });
  const identities = watchKeyVaultIdentities({ kc, log, changed: enqueueAll });
  const drift = DriftRepair.forKeyVaultSyncs({ getSync: (n, name) => syncs.get(name, n), isLeader, written, macKey, enqueue: (key) => queue.add(key, 'high'), log, onRepair: (cause) => metrics.driftRepaired(cause) });
  const secrets = watchManagedSecrets({ kc, log, namespace: opts.watchNamespace, changed: (s, deleted) => void drift.secretChanged(s, deleted) });
  const tls = opts.tlsSources === false ? undefined : new TlsSources({ kc, log, namespace: opts.watchNamespace, events, isLeader, vaults: opts.azure });
  const informers = [syncs, identities, secrets];
  // ClusterKeyVaultSyncs write into every namespace they select: only a controller that serves them all.
  const fanOut =
    (opts.fanOut ?? opts.watchNamespace === undefined)
      ? startFanOut({ kc, log, pipeline, events, operatorNamespace: namespace, macKey, written, isLeader, vaults: opts.azure, registry: metrics.registry, listIdentities: () => identities.list(), onRepair: (cause) => metrics.driftRepaired(cause) })
      : undefined;
  const reconciler = new Reconciler({
    getSync: (n, name) => syncs.get(name, n),
    listIdentities: () => [...identities.list()],
    pipeline,
    // kvsync's Secrets are read from the informer cache; the apiserver is asked only for other names.
    writer: new SecretWriter(kc, { cachedSecret: (n, name) => secrets.get(name, n) }),
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
    parse: (obj) => vaults.parse(obj),
    log,
    metrics,
    written,
    syncTimeoutMs: opts.syncTimeoutMs,
    steps: opts.syncSteps,
  });
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const vaults = new SyncVaults((key) => {
    const { namespace: n, name } = splitKey(key);
    return syncs.get(name, n);
  }, azure);
  const queue = new WorkQueue({
    concurrency,
    // The bulkhead: a vault that holds its requests open keeps at most this many workers.
    groupOf: (key) => vaults.of(key),
    maxPerGroup: opts.maxWorkersPerVault ?? defaultMaxWorkersPerVault(concurrency),
    // A replica that is not the leader drops its work; it enqueues everything when it becomes leader.
    // A sync done with its vault (status and events left) frees the vault's slot for the next one.
    handler: (key, run) => (isLeader() ? reconciler.reconcile(key, { keyVaultDone: () => run.leaveGroup() }) : Promise.resolve({})),
    onError: (key, err) => log.error({ keyVaultSync: key, err: errorSummary(err) }, 'reconcile failed; retrying with backoff'),
    onWaited: (seconds) => metrics.waited(seconds),
  });
  metrics.setQueueDepthSource(() => queue.length);
  metrics.setObjectCacheBytesSource(() => pipeline.objectCacheBytes ?? 0);
  let stopping: Promise<void> | undefined;
  const elector =
    opts.leaderElect === false
      ? undefined
      : new LeaderElector({
          identity,
          client: new KubeLeaseClient(kc, namespace, opts.leaseName ?? LEASE_NAME),
          ...(opts.leaseDurationMs === undefined ? {} : { leaseDurationMs: opts.leaseDurationMs }),
          ...(opts.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: opts.renewDeadlineMs }),
          ...(opts.retryPeriodMs === undefined ? {} : { retryPeriodMs: opts.retryPeriodMs }),
          onStartedLeading: () => {
            leader = true;
            log.info({ identity }, 'became leader');
            enqueueAll();
            tls?.enqueueAll();
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

  // Connect and start; the one teardown undoes whatever was started, on failure and on stop.
  const started: { relist?: NodeJS.Timeout; unwatchChanges?: () => void; unguardTokenRefresh?: () => void; health?: HealthServer; webhook?: ControllerWebhook; eventGrid?: RunningEventGridEndpoint } = {};
  const teardown = async (): Promise<void> => {
    clearInterval(started.relist);
    await started.webhook?.close();
    await started.eventGrid?.close();
    await Promise.all([...informers, ...(fanOut?.informers ?? [])].map((i) => i.stop()));
    await tls?.stop();
    await queue.shutdown();
    await fanOut?.queue.shutdown();
    await elector?.stop();
    leader = false;
    await started.health?.close();
    metrics.close();
    started.unwatchChanges?.();
    pipeline.close?.();
    started.unguardTokenRefresh?.();
  };
  try {
    // Before any Key Vault client runs: the SDK's unawaited background token refresh must not end the process.
    started.unguardTokenRefresh = guardTokenRefresh(log);
    // Objects the change detectors found changed: exactly their KeyVaultSyncs are refreshed (not fresh).
    const unwatchChanges = pipeline.onObjectsChanged?.((keys) => enqueueChanged(keys, { syncs: queue, clusters: fanOut?.queue }));
    if (unwatchChanges !== undefined) started.unwatchChanges = unwatchChanges;
    await Promise.all(informers.map((i) => i.start()));
    if (fanOut !== undefined) {
      // Without the CRD (an upgrade that did not install it) or RBAC for it, KeyVaultSyncs still sync.
      await Promise.all(fanOut.informers.map((i) => i.start())).catch((err: unknown) => log.error({ err: errorSummary(err) }, 'ClusterKeyVaultSyncs are not served: listing them, namespaces or their Secrets failed'));
      fanOut.queue.start();
    }
    // Without RBAC for Ingresses (an upgrade that kept the old ClusterRole), KeyVaultSyncs still sync.
    await tls?.start().catch((err: unknown) => log.error({ err: errorSummary(err) }, 'Ingress and Gateway TLS is not served: listing Ingresses or derived KeyVaultSyncs failed'));
    queue.start();
    elector?.start();
    started.relist = setInterval(() => {
      for (const inf of [...informers, ...(fanOut?.informers ?? []), ...(tls?.informers ?? [])]) inf.relist().catch((err: unknown) => log.warn({ err: errorSummary(err) }, 'relist failed'));
      // Gateway API CRDs installed after the start are found here.
      tls?.discoverGateways().catch((err: unknown) => log.warn({ err: errorSummary(err) }, 'Gateway discovery failed'));
    }, opts.relistIntervalMs ?? 10 * 60_000);
    started.relist.unref();
    if (opts.healthAddr !== undefined) started.health = await startHealthServer(opts.healthAddr, { ready: () => informers.every((i) => i.synced), metrics: () => metrics.scrape() });
    if (opts.webhook !== undefined) started.webhook = await startControllerWebhook(kc, namespace, opts.webhook, log, opts.azure);
    if (opts.eventGrid !== undefined) {
      started.eventGrid = await startEventGridPush({
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
    await teardown();
    throw err;
  }
  const { health, webhook, eventGrid } = started;
  log.info({ identity, namespace, watchNamespace: opts.watchNamespace ?? '(all)', leaderElect: elector !== undefined, health: health?.address, webhookPort: webhook?.port, eventGrid: eventGrid?.address }, 'controller started');

  return {
    identity,
    isLeader,
    healthAddress: health?.address,
    webhook,
    eventGrid,
    metrics,
    keyVault,
    pipeline,
    stop: () =>
      (stopping ??= (async () => {
        await teardown();
        log.info({ identity }, 'controller stopped');
      })()),
  };
}

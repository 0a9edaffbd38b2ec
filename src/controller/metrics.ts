/**
 * The controller's Prometheus metrics, served on `/metrics` by the health server. Each controller has
 * its own Registry (never prom-client's global one), so tests and several controllers in one process
 * do not clash. Labels carry names and reasons only — never a secret value or object content.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TemplateFailure } from '../api/template.ts';
import type { KeyVaultAccess } from '../keyvault/access.ts';
import { VAULT_GUARD_METRIC_NAMES, registerVaultGuardMetrics } from './vault-guard-metrics.ts';
import type { CertificateState, CertificateWatchMetrics } from './certificate-watch.ts';
import type { RolloutMetrics } from './rollouts.ts';

/** What the reconciler reports. */
export interface SyncMetrics {
  /** One finished sync: `result` is `success` or the failure reason; `seconds` its duration. */
  syncFinished(result: string, seconds: number): void;
  /** A successful sync of the KeyVaultSync ended at `at` (its freshness; the status says it only coarsely). */
  syncSucceeded(namespace: string, keyVaultSync: string, at: Date): void;
  /** Replaces the certificate expiry series of one KeyVaultSync (objects absent from `expiries` are removed). */
  setCertificateExpiries(namespace: string, keyVaultSync: string, expiries: ReadonlyMap<string, Date>): void;
  /**
   * The objects the KeyVaultSync's selectors matched at its successful sync; `undefined` (it has no
   * selectors) removes the series.
   */
  setSelectedObjects(namespace: string, keyVaultSync: string, count: number | undefined): void;
  /** A Secret template could not be rendered. */
  templateFailed(failure: TemplateFailure): void;
  /** The KeyVaultSync is gone: its series are removed. */
  forgetSync(namespace: string, keyVaultSync: string): void;
}

/** What drift repair reports. */
export interface DriftMetrics {
  /** A KeyVaultSync was enqueued because a Secret it wrote was changed or deleted by someone else. */
  driftRepaired(cause: 'changed' | 'deleted'): void;
}

/** What the work queue reports. */
export interface QueueMetrics {
  /** Time a key waited in the queue before a handler picked it up. */
  waited(seconds: number): void;
}

export interface ControllerMetrics extends SyncMetrics, QueueMetrics, DriftMetrics, RolloutMetrics, CertificateWatchMetrics {
  readonly registry: Registry;
  /** The queue depth is read at scrape time from this source. */
  setQueueDepthSource(depth: () => number): void;
  /** The object cache's bytes are read at scrape time from this source. */
  setObjectCacheBytesSource(bytes: () => number): void;
  /** The exposition text and its content type, for `/metrics`. */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** Stops counting Key Vault requests (the registry stays readable). */
  close(): void;
}

export const METRIC_NAMES = {
  syncs: 'kvsync_syncs_total',
  syncDuration: 'kvsync_sync_duration_seconds',
  queueDepth: 'kvsync_workqueue_depth',
  queueWait: 'kvsync_workqueue_wait_seconds',
  lastSync: 'kvsync_last_sync_timestamp_seconds',
  certificateExpiry: 'kvsync_certificate_expiry_timestamp_seconds',
  keyVaultRequests: 'kvsync_keyvault_requests_total',
  ...VAULT_GUARD_METRIC_NAMES,
  objectCacheRequests: 'kvsync_object_cache_requests_total',
  objectCacheBytes: 'kvsync_object_cache_bytes',
  certificateDecodes: 'kvsync_certificate_decodes_total',
  changeDetectionLists: 'kvsync_change_detection_lists_total',
  restartsTriggered: 'kvsync_restarts_triggered_total',
  driftRepairs: 'kvsync_drift_repairs_total',
  certificateExpiring: 'kvsync_certificate_expiring',
  certificateNewerVersion: 'kvsync_certificate_newer_version_available',
  selectedObjects: 'kvsync_selected_objects',
  templateFailures: 'kvsync_template_failures_total',
} as const;

/** Metrics of a controller; the Key Vault ones are fed by the requests, guards and caches of `vaults`. */
export function createControllerMetrics(vaults: KeyVaultAccess, opts: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const syncs = new Counter({ name: METRIC_NAMES.syncs, help: 'KeyVaultSync reconciles by result (success or the failure reason).', labelNames: ['result'], registers: [registry] });
  const duration = new Histogram({
    name: METRIC_NAMES.syncDuration,
    help: 'Duration of one KeyVaultSync reconcile (fetch, render, write, status), in seconds.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  let depthSource: () => number = () => 0;
  new Gauge({
    name: METRIC_NAMES.queueDepth,
    help: 'Keys waiting in the work queue (not delayed, not running).',
    registers: [registry],
    collect() {
      this.set(depthSource());
    },
  });
  const wait = new Histogram({
    name: METRIC_NAMES.queueWait,
    help: 'Time a key waited in the work queue before being processed, in seconds.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers: [registry],
  });
  const lastSync = new Gauge({
    name: METRIC_NAMES.lastSync,
    help: 'End of the last successful sync of the KeyVaultSync, as a Unix time.',
    labelNames: ['namespace', 'keyvaultsync'],
    registers: [registry],
  });
  const expiry = new Gauge({
    name: METRIC_NAMES.certificateExpiry,
    help: 'Expiry (notAfter) of the synced certificate, as a Unix timestamp in seconds.',
    labelNames: ['namespace', 'keyvaultsync', 'object'],
    registers: [registry],
  });
  const requests = new Counter({
    name: METRIC_NAMES.keyVaultRequests,
    help: 'HTTP requests sent to Key Vault (retries and auth challenges included) by vault, operation and status code.',
    labelNames: ['vault', 'operation', 'status'],
    registers: [registry],
  });
  const restarts = new Counter({
    name: METRIC_NAMES.restartsTriggered,
    help: 'Workloads rolled (pod-template annotation set) because the data of a Secret they use changed, by namespace and kind.',
    labelNames: ['namespace', 'kind'],
    registers: [registry],
  });
  const driftRepairs = new Counter({
    name: METRIC_NAMES.driftRepairs,
    help: 'KeyVaultSyncs enqueued to repair a Secret kvsync wrote that someone else changed or deleted, by cause (changed, deleted).',
    labelNames: ['cause'],
    registers: [registry],
  });
  const selectedObjects = new Gauge({
    name: METRIC_NAMES.selectedObjects,
    help: 'Key Vault objects the KeyVaultSync\'s selectors matched at its last successful sync (only KeyVaultSyncs with selectors).',
    labelNames: ['namespace', 'keyvaultsync'],
    registers: [registry],
  });
  const templateFailures = new Counter({
    name: METRIC_NAMES.templateFailures,
    help: 'Secret templates that could not be rendered, by reason: too_large (over 1 MiB), not_text (json-string of a value that is not UTF-8).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const certLabels = ['namespace', 'keyvaultsync', 'object'] as const;
  const expiring = new Gauge({ name: METRIC_NAMES.certificateExpiring, help: 'Whether the synced certificate is within the expiry warning window or expired (1) or not (0).', labelNames: certLabels, registers: [registry] });
  const newerVersion = new Gauge({
    name: METRIC_NAMES.certificateNewerVersion,
    help: 'For a pinned certificate: whether Key Vault holds a newer enabled version (1) or not (0).',
    labelNames: certLabels,
    registers: [registry],
  });
  /** Objects with certificate state series, per `namespace/name`. */
  const stateObjects = new Map<string, Set<string>>();
  const forgetStates = (namespace: string, keyVaultSync: string, keep: ReadonlyMap<string, CertificateState>): void => {
    for (const object of stateObjects.get(`${namespace}/${keyVaultSync}`) ?? []) {
      const s = keep.get(object);
      if (s === undefined) expiring.remove({ namespace, keyvaultsync: keyVaultSync, object });
      if (s?.newerVersion === undefined) newerVersion.remove({ namespace, keyvaultsync: keyVaultSync, object });
    }
  };
  const unsubscribeRequests = vaults.requests.observe((r) => requests.inc({ vault: r.vault, operation: r.operation, status: r.status }));
  const cacheRequests = new Counter({
    name: METRIC_NAMES.objectCacheRequests,
    help: 'Object reads asked of the shared object cache, by result: hit (kept read), shared (joined a read in flight), miss (read from Key Vault).',
    labelNames: ['result'],
    registers: [registry],
  });
  let cacheBytesSource: () => number = () => 0;
  new Gauge({
    name: METRIC_NAMES.objectCacheBytes,
    help: 'Bytes of the object reads kept by the shared object cache (values and decoded bundles), bounded by --object-cache-max-bytes.',
    registers: [registry],
    collect() {
      this.set(cacheBytesSource());
    },
  });
  const decodes = new Counter({
    name: METRIC_NAMES.certificateDecodes,
    help: 'Certificate bundles asked for, by result: kept (decoded before, or being decoded) or decoded (a worker decoded the content).',
    labelNames: ['result'],
    registers: [registry],
  });
  const detectionLists = new Counter({
    name: METRIC_NAMES.changeDetectionLists,
    help: 'Change-detection listings of a vault (all pages of GET /secrets or /keys), by result: ok, forbidden (403: per-object reads instead), error.',
    labelNames: ['vault', 'result'],
    registers: [registry],
  });
  const unsubscribeRefresh = vaults.refreshEvents.observe((e) => {
    if (e.kind === 'cache') cacheRequests.inc({ result: e.result });
    else if (e.kind === 'decode') decodes.inc({ result: e.result });
    else detectionLists.inc({ vault: e.vault, result: e.result });
  });
  const unsubscribe = (): void => {
    unsubscribeRequests();
    unsubscribeRefresh();
  };
  /** Objects with an expiry series, per `namespace/name`. */
  const certObjects = new Map<string, Set<string>>();

  const forgetSync = (namespace: string, keyVaultSync: string): void => {
    const key = `${namespace}/${keyVaultSync}`;
    lastSync.remove({ namespace, keyvaultsync: keyVaultSync });
    selectedObjects.remove({ namespace, keyvaultsync: keyVaultSync });
    for (const object of certObjects.get(key) ?? []) expiry.remove({ namespace, keyvaultsync: keyVaultSync, object });
    certObjects.delete(key);
    forgetStates(namespace, keyVaultSync, new Map());
    stateObjects.delete(key);
  };

  // Waits for a vault's request budget and circuit states (src/keyvault/vault-guard.ts).
  const unwatchGuards = registerVaultGuardMetrics(registry, vaults.guards);

  return {
    registry,
    syncFinished: (result, seconds) => {
      syncs.inc({ result });
      duration.observe(seconds);
    },
    syncSucceeded: (namespace, keyVaultSync, at) => lastSync.set({ namespace, keyvaultsync: keyVaultSync }, at.getTime() / 1000),
    setCertificateExpiries: (namespace, keyVaultSync, expiries) => {
      const key = `${namespace}/${keyVaultSync}`;
      for (const object of certObjects.get(key) ?? []) {
        if (!expiries.has(object)) expiry.remove({ namespace, keyvaultsync: keyVaultSync, object });
      }
      for (const [object, at] of expiries) expiry.set({ namespace, keyvaultsync: keyVaultSync, object }, at.getTime() / 1000);
      if (expiries.size === 0) certObjects.delete(key);
      else certObjects.set(key, new Set(expiries.keys()));
    },
    setSelectedObjects: (namespace, keyVaultSync, count) => {
      if (count === undefined) selectedObjects.remove({ namespace, keyvaultsync: keyVaultSync });
      else selectedObjects.set({ namespace, keyvaultsync: keyVaultSync }, count);
    },
    templateFailed: (failure) => templateFailures.inc({ reason: failure }),
    forgetSync,
    restartTriggered: (namespace, kind) => restarts.inc({ namespace, kind }),
    driftRepaired: (cause) => driftRepairs.inc({ cause }),
    setCertificateStates: (namespace, keyVaultSync, states) => {
      forgetStates(namespace, keyVaultSync, states);
      for (const [object, s] of states) {
        const labels = { namespace, keyvaultsync: keyVaultSync, object };
        expiring.set(labels, s.expiring ? 1 : 0);
        if (s.newerVersion !== undefined) newerVersion.set(labels, s.newerVersion ? 1 : 0);
      }
      const key = `${namespace}/${keyVaultSync}`;
      if (states.size === 0) stateObjects.delete(key);
      else stateObjects.set(key, new Set(states.keys()));
    },
    waited: (seconds) => wait.observe(seconds),
    setQueueDepthSource: (depth) => {
      depthSource = depth;
    },
    setObjectCacheBytesSource: (bytes) => {
      cacheBytesSource = bytes;
    },
    close: () => {
      unsubscribe();
      unwatchGuards();
    },
    scrape: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}

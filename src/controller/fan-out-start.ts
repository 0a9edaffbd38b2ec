/**
 * The wiring of ClusterKeyVaultSyncs, for startController: their three watches (resources, namespaces,
 * their Secrets), their own work queue (a fan-out into many namespaces never takes the workers of
 * KeyVaultSyncs), the reconciler and the namespace gauge. Only when the controller serves every
 * namespace: a controller confined to `watchNamespace` has no fan-out.
 */
import type * as k8s from '@kubernetes/client-node';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { VaultHostPolicy } from '../api/vault-url.ts';
import { DriftRepair, type DriftCause } from './drift-repair.ts';
import { errorSummary } from './error-summary.ts';
import type { EventRecorder } from './events.ts';
import { FanOutReconciler, KubeClusterStatusWriter, type FanOutMetrics } from './fan-out.ts';
import { watchClusterKeyVaultSyncs, watchClusterSecrets, watchNamespaces } from './fan-out-watches.ts';
import type { ResilientInformer } from './informer.ts';
import { CLUSTER_SYNC_LABEL } from './labels.ts';
import type { SyncPipeline } from './pipeline.ts';
import { SecretWriter } from './secret-writer.ts';
import { WorkQueue } from './workqueue.ts';
import type { WrittenMacs } from './written-macs.ts';

export const CLUSTER_NAMESPACES_METRIC = 'kvsync_cluster_sync_namespaces';

export interface FanOut {
  /** Started by the controller; not part of its readiness (a cluster without the CRD still syncs KeyVaultSyncs). */
  informers: ResilientInformer<k8s.KubernetesObject>[];
  queue: WorkQueue;
  /** Every ClusterKeyVaultSync to the queue (leadership gained, a grant changed). */
  enqueueAll(): void;
  reconciler: FanOutReconciler;
}

export function fanOutMetrics(registry: Registry): FanOutMetrics {
  const gauge = new Gauge({
    name: CLUSTER_NAMESPACES_METRIC,
    help: 'Namespaces a ClusterKeyVaultSync selects (matched), whose Secrets the last sync wrote or found current (synced), and that failed (failed).',
    labelNames: ['clusterkeyvaultsync', 'state'],
    registers: [registry],
  });
  return {
    namespaces: (name, counts) => {
      for (const [state, n] of Object.entries(counts)) gauge.set({ clusterkeyvaultsync: name, state }, n);
    },
    forget: (name) => {
      for (const state of ['matched', 'synced', 'failed']) gauge.remove({ clusterkeyvaultsync: name, state });
    },
  };
}

export function startFanOut(opts: {
  kc: k8s.KubeConfig;
  log: Logger;
  pipeline: SyncPipeline;
  events: EventRecorder;
  operatorNamespace: string;
  macKey: Buffer;
  written: WrittenMacs;
  isLeader: () => boolean;
  vaults: VaultHostPolicy;
  registry: Registry;
  listIdentities: () => readonly k8s.KubernetesObject[];
  onRepair?: (cause: DriftCause) => void;
  concurrency?: number;
}): FanOut {
  const { kc, log } = opts;
  const enqueueAll = (): void => {
    for (const o of clusters.list()) queue.add(o.metadata?.name ?? '');
  };
  const clusters = watchClusterKeyVaultSyncs({
    kc,
    log,
    enqueue: (name, priority) => queue.add(name, priority),
    deleted: (name) => {
      queue.cancel(name);
      reconciler.forget(name);
    },
  });
  const namespaces = watchNamespaces({ kc, log, changed: enqueueAll });
  const drift = DriftRepair.forClusterKeyVaultSyncs({
    isLeader: opts.isLeader,
    written: opts.written,
    macKey: opts.macKey,
    enqueue: (name) => queue.add(name, 'high'),
    log,
    ...(opts.onRepair === undefined ? {} : { onRepair: opts.onRepair }),
  });
  const secrets = watchClusterSecrets({ kc, log, changed: (s, deleted) => void drift.secretChanged(s, deleted) });
  const reconciler = new FanOutReconciler({
    // Until the namespaces and Secrets are listed, an empty cache would look like "nothing selected".
    listed: () => namespaces.synced && secrets.synced,
    getCluster: (name) => clusters.get(name),
    listNamespaces: () => namespaces.list(),
    listWritten: (name) => secrets.list().filter((s) => s.metadata?.labels?.[CLUSTER_SYNC_LABEL] === name),
    listIdentities: opts.listIdentities,
    pipeline: opts.pipeline,
    writer: new SecretWriter(kc, { cachedSecret: (n, name) => secrets.get(name, n) }),
    status: new KubeClusterStatusWriter(kc),
    events: opts.events,
    operatorNamespace: opts.operatorNamespace,
    macKey: opts.macKey,
    written: opts.written,
    isLeader: opts.isLeader,
    vaults: opts.vaults,
    log,
    metrics: fanOutMetrics(opts.registry),
  });
  const queue = new WorkQueue({
    concurrency: opts.concurrency ?? 2,
    handler: (name) => (opts.isLeader() ? reconciler.reconcile(name) : Promise.resolve({})),
    onError: (name, err) => log.error({ clusterKeyVaultSync: name, err: errorSummary(err) }, 'cluster reconcile failed; retrying with backoff'),
  });
  return { informers: [clusters, namespaces, secrets] as ResilientInformer<k8s.KubernetesObject>[], queue, enqueueAll, reconciler };
}

/**
 * The three watches of the controller, each a ResilientInformer: KeyVaultSyncs (all namespaces or
 * one), KeyVaultIdentities (cluster-scoped) and the Secrets kvsync manages (by label). They decide
 * which KeyVaultSyncs go to the work queue on which event, and with what priority; the reconciler then
 * reads the informer caches.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '../api/index.ts';
import { errorSummary } from './error-summary.ts';
import { ResilientInformer, watchFailureLevel } from './informer.ts';
import { FORCE_SYNC_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
import { PLURAL, type KeyVaultSyncObject } from './reconciler.ts';
import type { QueuePriority, WorkQueue } from './workqueue.ts';

/** The queue key of an object: `namespace/name`. */
export function keyOf(o: k8s.KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/**
 * The KeyVaultSyncs whose objects the change detectors found changed go to the queue ahead of periodic
 * refreshes (a known change, as a push is), so a backlog of refreshes never delays a rotation. A
 * ClusterKeyVaultSync's key has no namespace (`/<name>`): it goes to its own queue.
 */
export function enqueueChanged(keys: readonly string[], queues: { syncs: Pick<WorkQueue, 'add'>; clusters?: Pick<WorkQueue, 'add'> | undefined }): void {
  for (const k of keys) {
    if (k.startsWith('/')) queues.clusters?.add(k.slice(1), 'high');
    else queues.syncs.add(k, 'high');
  }
}

/** Never synced: ahead of every refresh in the queue (and in the vault limiter, see reconciler.ts). */
export function priorityOf(o: KeyVaultSyncObject): QueuePriority {
  return o.status?.lastSyncTime === undefined ? 'high' : 'normal';
}

interface WatchBase {
  kc: k8s.KubeConfig;
  log: Logger;
}

export function watchKeyVaultSyncs(
  opts: WatchBase & {
    /** Only this namespace; all when undefined. */
    namespace: string | undefined;
    enqueue(key: string, priority: QueuePriority): void;
    /** The KeyVaultSync is gone: its queue entry and everything kept about it. */
    deleted(o: KeyVaultSyncObject): void;
  },
): ResilientInformer<KeyVaultSyncObject> {
  const custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
  const ns = opts.namespace;
  return new ResilientInformer<KeyVaultSyncObject>({
    kc: opts.kc,
    path: ns === undefined ? `/apis/${GROUP}/${VERSION}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
    list: async () =>
      (ns === undefined
        ? await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
        : await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns })) as k8s.KubernetesListObject<KeyVaultSyncObject>,
    onAdd: (o) => opts.enqueue(keyOf(o), priorityOf(o)),
    onUpdate: (o, old) => {
      // Status writes also bump the resourceVersion: only a new generation or force-sync re-fetches.
      const forced = o.metadata?.annotations?.[FORCE_SYNC_ANNOTATION] !== old?.metadata?.annotations?.[FORCE_SYNC_ANNOTATION];
      if (old === undefined || o.metadata?.generation !== old.metadata?.generation || forced) {
        if (forced) opts.log.info({ keyVaultSync: keyOf(o) }, 'force-sync requested');
        opts.enqueue(keyOf(o), 'high');
      }
    },
    onDelete: (o) => opts.deleted(o),
    onError: (err, restartInMs) => opts.log[watchFailureLevel(err, restartInMs)]({ informer: 'keyvaultsyncs', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
  });
}

/** A grant changed: every KeyVaultSync may be affected (they are few; reconciles are level-based). */
export function watchKeyVaultIdentities(opts: WatchBase & { changed(): void }): ResilientInformer<k8s.KubernetesObject> {
  const custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
  return new ResilientInformer<k8s.KubernetesObject>({
    kc: opts.kc,
    path: `/apis/${GROUP}/${VERSION}/keyvaultidentities`,
    list: async () => (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities' })) as k8s.KubernetesListObject<k8s.KubernetesObject>,
    onAdd: () => opts.changed(),
    onUpdate: () => opts.changed(),
    onDelete: () => opts.changed(),
    onError: (err, restartInMs) => opts.log[watchFailureLevel(err, restartInMs)]({ informer: 'keyvaultidentities', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
  });
}

/** Secrets kvsync created (managed-by and KeyVaultSync labels): their changes and deletes go to drift repair. */
export function watchManagedSecrets(opts: WatchBase & { namespace: string | undefined; changed(s: k8s.V1Secret, deleted: boolean): void }): ResilientInformer<k8s.V1Secret> {
  const core = opts.kc.makeApiClient(k8s.CoreV1Api);
  const ns = opts.namespace;
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SYNC_LABEL}`;
  return new ResilientInformer<k8s.V1Secret>({
    kc: opts.kc,
    path: ns === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${ns}/secrets`,
    labelSelector: selector,
    list: () => (ns === undefined ? core.listSecretForAllNamespaces({ labelSelector: selector }) : core.listNamespacedSecret({ namespace: ns, labelSelector: selector })),
    onUpdate: (s) => opts.changed(s, false),
    onDelete: (s) => opts.changed(s, true),
    onError: (err, restartInMs) => opts.log[watchFailureLevel(err, restartInMs)]({ informer: 'secrets', err: errorSummary(err), restartInMs }, 'watch failed; restarting'),
  });
}

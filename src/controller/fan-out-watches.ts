/**
 * The watches of ClusterKeyVaultSyncs and what decides their queue: the resources themselves, the
 * namespaces (a label change or a new namespace can change what a selector selects), and the Secrets
 * they wrote (a tenant's edit or delete is repaired).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '../api/index.ts';
import { errorSummary } from './error-summary.ts';
import { CLUSTER_PLURAL, type ClusterKeyVaultSyncObject } from './fan-out.ts';
import { ResilientInformer, watchFailureLevel } from './informer.ts';
import { CLUSTER_SYNC_LABEL, FORCE_SYNC_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './labels.ts';
import type { QueuePriority } from './workqueue.ts';

interface WatchBase {
  kc: k8s.KubeConfig;
  log: Logger;
}

function onWatchError(log: Logger, informer: string): (err: unknown, restartInMs: number) => void {
  return (err, restartInMs) => log[watchFailureLevel(err, restartInMs)]({ informer, err: errorSummary(err), restartInMs }, 'watch failed; restarting');
}

export function watchClusterKeyVaultSyncs(opts: WatchBase & { enqueue(name: string, priority: QueuePriority): void; deleted(name: string): void }): ResilientInformer<ClusterKeyVaultSyncObject> {
  const custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
  const nameOf = (o: k8s.KubernetesObject): string => o.metadata?.name ?? '';
  return new ResilientInformer<ClusterKeyVaultSyncObject>({
    kc: opts.kc,
    path: `/apis/${GROUP}/${VERSION}/${CLUSTER_PLURAL}`,
    list: async () => (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: CLUSTER_PLURAL })) as k8s.KubernetesListObject<ClusterKeyVaultSyncObject>,
    onAdd: (o) => opts.enqueue(nameOf(o), o.status?.lastSyncTime === undefined ? 'high' : 'normal'),
    onUpdate: (o, old) => {
      // Status writes bump the resourceVersion too: only a new generation or a force-sync is work.
      const forced = o.metadata?.annotations?.[FORCE_SYNC_ANNOTATION] !== old?.metadata?.annotations?.[FORCE_SYNC_ANNOTATION];
      if (old === undefined || o.metadata?.generation !== old.metadata?.generation || forced) opts.enqueue(nameOf(o), 'high');
    },
    onDelete: (o) => opts.deleted(nameOf(o)),
    onError: onWatchError(opts.log, CLUSTER_PLURAL),
  });
}

/**
 * Namespaces: a new one, a label change or a deletion may change what a selector selects, so every
 * ClusterKeyVaultSync is enqueued (they are few; each sync is level-based and writes only what differs).
 */
export function watchNamespaces(opts: WatchBase & { changed(): void }): ResilientInformer<k8s.V1Namespace> {
  const core = opts.kc.makeApiClient(k8s.CoreV1Api);
  const labelsOf = (n: k8s.V1Namespace | undefined): string => JSON.stringify(n?.metadata?.labels ?? {});
  return new ResilientInformer<k8s.V1Namespace>({
    kc: opts.kc,
    path: '/api/v1/namespaces',
    list: () => core.listNamespace(),
    onAdd: () => opts.changed(),
    onUpdate: (n, old) => {
      if (labelsOf(n) !== labelsOf(old) || n.metadata?.deletionTimestamp !== old?.metadata?.deletionTimestamp) opts.changed();
    },
    onDelete: () => opts.changed(),
    onError: onWatchError(opts.log, 'namespaces'),
  });
}

/**
 * The Secrets ClusterKeyVaultSyncs wrote (managed-by and ClusterKeyVaultSync labels), each change
 * given to `changed` (drift repair: a tenant's edit or delete brings the ClusterKeyVaultSync back).
 */
export function watchClusterSecrets(opts: WatchBase & { changed(secret: k8s.V1Secret, deleted: boolean): void }): ResilientInformer<k8s.V1Secret> {
  const core = opts.kc.makeApiClient(k8s.CoreV1Api);
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${CLUSTER_SYNC_LABEL}`;
  return new ResilientInformer<k8s.V1Secret>({
    kc: opts.kc,
    path: '/api/v1/secrets',
    labelSelector: selector,
    list: () => core.listSecretForAllNamespaces({ labelSelector: selector }),
    onUpdate: (s) => opts.changed(s, false),
    onDelete: (s) => opts.changed(s, true),
    onError: onWatchError(opts.log, 'cluster-secrets'),
  });
}

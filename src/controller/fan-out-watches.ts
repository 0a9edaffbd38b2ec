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
import { dataMac } from './mac.ts';
import type { QueuePriority } from './workqueue.ts';
import type { WrittenMacs } from './written-macs.ts';

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
 * The Secrets ClusterKeyVaultSyncs wrote (managed-by and ClusterKeyVaultSync labels): one deleted, or
 * holding data this replica did not write, brings its ClusterKeyVaultSync back, ahead of refreshes.
 * After a restart nothing is recorded, and any change is simply synced again (level-based, a write
 * only where the Secret differs).
 */
export function watchClusterSecrets(opts: WatchBase & { written: WrittenMacs; macKey: Buffer; enqueue(name: string): void; onRepair?(cause: 'changed' | 'deleted'): void }): ResilientInformer<k8s.V1Secret> {
  const core = opts.kc.makeApiClient(k8s.CoreV1Api);
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${CLUSTER_SYNC_LABEL}`;
  const changed = (s: k8s.V1Secret, deleted: boolean): void => {
    const owner = s.metadata?.labels?.[CLUSTER_SYNC_LABEL];
    const namespace = s.metadata?.namespace ?? '';
    const name = s.metadata?.name ?? '';
    if (owner === undefined) return;
    if (!deleted) {
      const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      if (opts.written.wrote(namespace, name, dataMac(opts.macKey, { namespace, name, type: s.type ?? 'Opaque' }, data)) === true) return;
    }
    opts.log.info({ clusterKeyVaultSync: owner, secret: `${namespace}/${name}`, deleted }, 'fanned-out Secret changed out of band; repairing');
    opts.onRepair?.(deleted ? 'deleted' : 'changed');
    opts.enqueue(owner);
  };
  return new ResilientInformer<k8s.V1Secret>({
    kc: opts.kc,
    path: '/api/v1/secrets',
    labelSelector: selector,
    list: () => core.listSecretForAllNamespaces({ labelSelector: selector }),
    onUpdate: (s) => changed(s, false),
    onDelete: (s) => changed(s, true),
    onError: onWatchError(opts.log, 'cluster-secrets'),
  });
}

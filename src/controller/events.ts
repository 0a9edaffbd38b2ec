/**
 * core/v1 Events about a KeyVaultSync (what `kubectl describe kvs` shows), or an Ingress or Gateway
 * kvsync fills a TLS Secret for. Messages name objects and Secrets, never values. Failing to record
 * an event never fails a sync.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION } from '../api/index.ts';
import { GATEWAY_API_VERSION, INGRESS_API_VERSION } from '../api/tls-origin.ts';

export interface EventTarget {
  name: string;
  /** The KeyVaultSync's namespace; for a ClusterKeyVaultSync, where its events are kept (the operator's). */
  namespace: string;
  /**
   * Default KeyVaultSync; a ClusterKeyVaultSync is cluster-scoped (its events name no namespace); an
   * Ingress or Gateway is one whose TLS Secret kvsync fills.
   */
  kind?: 'KeyVaultSync' | 'ClusterKeyVaultSync' | 'Ingress' | 'Gateway' | undefined;
  uid: string;
  resourceVersion?: string | undefined;
}

/** The apiVersion of each kind events are recorded on. */
const API_VERSIONS = { KeyVaultSync: API_VERSION, ClusterKeyVaultSync: API_VERSION, Ingress: INGRESS_API_VERSION, Gateway: GATEWAY_API_VERSION } as const;

export interface EventRecorder {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export class KubeEventRecorder implements EventRecorder {
  readonly #core: k8s.CoreV1Api;
  readonly #instance: string;
  readonly #onError: (err: unknown) => void;

  constructor(kc: k8s.KubeConfig, opts: { instance: string; onError: (err: unknown) => void }) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#instance = opts.instance;
    this.#onError = opts.onError;
  }

  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    try {
      await this.#core.createNamespacedEvent({
        namespace: target.namespace,
        body: {
          metadata: { name: `${target.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace: target.namespace },
          involvedObject:
            target.kind === 'ClusterKeyVaultSync'
              ? { apiVersion: API_VERSION, kind: target.kind, name: target.name, uid: target.uid, resourceVersion: target.resourceVersion }
              : { apiVersion: API_VERSIONS[target.kind ?? 'KeyVaultSync'], kind: target.kind ?? 'KeyVaultSync', name: target.name, namespace: target.namespace, uid: target.uid, resourceVersion: target.resourceVersion },
          type,
          reason,
          message: message.slice(0, 1024),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: 'kvsync' },
          reportingComponent: 'kvsync.dev/controller',
          reportingInstance: this.#instance,
          action: reason === 'SyncFailed' ? 'Sync' : reason,
        },
      });
    } catch (err) {
      this.#onError(err);
    }
  }
}

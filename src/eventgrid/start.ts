/**
 * `kvsync controller --eventgrid-*`: the push-refresh endpoint wired to the controller — authenticators
 * from the flags and the Azure environment, the KeyVaultSync index over the informer cache, the
 * refresher that invalidates and queues, and the metric.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { KeyVaultSyncObject } from '../controller/reconciler.ts';
import { AUTHORITY_HOSTS } from '../api/cloud.ts';
import type { AzureEnvironment } from '../keyvault/azure-environment.ts';
import { AnyOfAuthenticator, EntraTokenAuthenticator, SharedKeyAuthenticator, type DeliveryAuthenticator } from './auth.ts';
import { EventGridConfigError } from './errors.ts';
import { startEventGridEndpoint, type EventGridLogger, type RunningEventGridEndpoint } from './endpoint.ts';
import { kubePodLabelWriter, LeaderPodLabel } from './leader-label.ts';
import { createEventGridMetrics } from './metrics.ts';
import { PushRefresher, type PushRefreshDeps } from './push-refresh.ts';
import { SyncIndex } from './sync-index.ts';

/** What the `--eventgrid-*` flags configure. At least one of `keyFile` and `audiences` is required. */
export interface EventGridOptions {
  /** `host:port` to listen on, e.g. `0.0.0.0:8443`. */
  addr: string;
  /** URL path; default `/eventgrid`. */
  path?: string;
  /** tls.crt/tls.key: serve HTTPS; plain HTTP (behind a TLS-terminating ingress) when undefined. */
  certDir?: string;
  /** A file holding the shared key (`aeg-sas-key` header or `code` query parameter). */
  keyFile?: string;
  /** Entra token audiences (the application ID URI and/or client ID of the subscription's app). */
  audiences?: string[];
  /** Tenant of the Entra tokens; default the Azure environment's default tenant (AZURE_TENANT_ID). */
  tenantId?: string;
  /** When given, only tokens of these applications (`appid`/`azp`) are accepted. */
  allowedClientIds?: string[];
  /**
   * This replica's pod (in the operator namespace): the leader labels it `kvsync.dev/eventgrid-leader:
   * "true"` so that the Event Grid Service routes to the leader only (leader-label.ts).
   */
  leaderPod?: string;
}

export interface EventGridPushDeps {
  options: EventGridOptions;
  azure: AzureEnvironment;
  /** The KeyVaultSync informer cache. */
  listSyncs: () => Iterable<KeyVaultSyncObject>;
  /** Queues a KeyVaultSync key for an immediate sync. */
  enqueue: (key: string) => void;
  /** The pipeline's invalidation entry point, when it has one. */
  markChanged?: PushRefreshDeps['markChanged'];
  isLeader: () => boolean;
  registry: Registry;
  log: EventGridLogger;
  /** For the leader label (`options.leaderPod`): the cluster and the operator namespace. */
  kubeConfig?: k8s.KubeConfig;
  namespace?: string;
}

/** @throws EventGridConfigError for a missing key/audience, an unreadable or short key file, no tenant. */
export async function buildAuthenticator(o: EventGridOptions, azure: AzureEnvironment, log: EventGridLogger): Promise<DeliveryAuthenticator> {
  const all: DeliveryAuthenticator[] = [];
  if (o.keyFile !== undefined) {
    const shared = new SharedKeyAuthenticator({ keyFile: o.keyFile });
    await shared.load();
    all.push(shared);
  }
  if (o.audiences !== undefined && o.audiences.length > 0) {
    const tenantId = o.tenantId ?? azure.defaultTenantId;
    if (tenantId === undefined) throw new EventGridConfigError('--eventgrid-audience needs --eventgrid-tenant-id (or AZURE_TENANT_ID)');
    const entra = new EntraTokenAuthenticator({
      authorityHost: azure.authorityHostOverride ?? AUTHORITY_HOSTS.AzurePublicCloud,
      tenantId,
      audiences: o.audiences,
      allowedClientIds: o.allowedClientIds ?? [],
      agent: azure.agent,
    });
    // Not fatal: the authority may be briefly unreachable; the first token fetches again.
    await entra.prefetch().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message.split('\n')[0] : String(err) }, 'Event Grid: Entra discovery failed; will retry on the first token'));
    all.push(entra);
  }
  return new AnyOfAuthenticator(all);
}

/** Starts the endpoint. @throws EventGridConfigError, or the listen/certificate error. */
export async function startEventGridPush(d: EventGridPushDeps): Promise<RunningEventGridEndpoint> {
  const authenticator = await buildAuthenticator(d.options, d.azure, d.log);
  const index = new SyncIndex(d.listSyncs, d.azure);
  const refresher = new PushRefresher({ affected: (c) => index.affected(c), enqueue: d.enqueue, markChanged: d.markChanged });
  const endpoint = await startEventGridEndpoint({
    addr: d.options.addr,
    ...(d.options.path === undefined ? {} : { path: d.options.path }),
    certDir: d.options.certDir,
    authenticator,
    isLeader: d.isLeader,
    refresh: (c) => refresher.handle(c),
    metrics: createEventGridMetrics(d.registry),
    log: d.log,
  });
  let label: LeaderPodLabel | undefined;
  if (d.options.leaderPod !== undefined) {
    if (d.kubeConfig === undefined || d.namespace === undefined) throw new EventGridConfigError('--eventgrid-pod needs the cluster connection and operator namespace');
    label = new LeaderPodLabel({ isLeader: d.isLeader, write: kubePodLabelWriter(d.kubeConfig, d.namespace, d.options.leaderPod), log: d.log });
    label.start();
  }
  d.log.info({ url: endpoint.url, sharedKey: d.options.keyFile !== undefined, entraAudiences: d.options.audiences?.length ?? 0, leaderPod: d.options.leaderPod }, 'Event Grid push endpoint serving');
  return {
    ...endpoint,
    close: async () => {
      await label?.stop();
      await endpoint.close();
    },
  };
}

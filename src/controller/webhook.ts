/**
 * The pod admission webhook as served by `kvsync controller`, on every replica (admission does not
 * need the leader: it only reads the cluster).
 *
 * Start-up: (1) the serving certificate — user-supplied files (`certDir`: `tls.crt`, `tls.key`, e.g.
 * cert-manager's Secret mounted as a volume; reloaded when they change) or self-managed through
 * {@link SecretCertificateManager} in the operator namespace (one Secret shared by the replicas);
 * (2) the HTTPS server; (3) create or update the MutatingWebhookConfiguration, then publish the CA
 * bundle again from the Secret (so a replica that read the Secret before another one renewed it can
 * never leave a stale bundle behind); (4) the periodic certificate check, which patches the bundle
 * before a renewed pair is served. On stop the server closes and the timers stop; the configuration
 * stays (the other replicas keep serving it).
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { V1LabelSelectorRequirement, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { AZURE_VAULT_HOSTS_ONLY } from '../api/index.ts';
import type { VaultHostPolicy } from '../api/index.ts';
import { FileCertificateSource, SecretCertificateManager, splitCertificates } from '../webhook/certificates.ts';
import type { ServingCertificate } from '../webhook/certificates.ts';
import { WebhookCertificateError } from '../webhook/errors.ts';
import { kubeClusterView } from '../webhook/kube-cluster-view.ts';
import { startWebhookServer } from '../webhook/server.ts';
import type { RunningWebhook, WebhookLogger } from '../webhook/server.ts';
import { webhookConfiguration } from '../webhook/webhook-configuration.ts';
import { parseHostPort } from './health.ts';

export const DEFAULT_WEBHOOK_CONFIGURATION_NAME = 'kvsync-webhook';
export const DEFAULT_WEBHOOK_SECRET_NAME = 'kvsync-webhook-tls';
/**
 * The sidecar image of a local run (`--webhook-url`), where no kubelet pulls it: the tag docs/image.md
 * builds. In a cluster the sidecar runs the controller's own image, which the Helm chart passes.
 */
export const LOCAL_SIDECAR_IMAGE = 'kvsync:dev';

export interface ControllerWebhookOptions {
  /** `host:port` to serve HTTPS on (`:0` picks a free port). */
  addr: string;
  /**
   * How the apiserver reaches the webhook: a base URL (`https://127.0.0.1:9443`, local runs; a
   * trailing `/mutate-pods` is accepted) or a Service in the operator namespace (port default 443).
   */
  endpoint: { url: string } | { service: string; port?: number };
  /** A directory with `tls.crt` and `tls.key` (and optionally `ca.crt`); default: self-managed. */
  certDir?: string;
  /** Image of the `kvsync mount` sidecar; default {@link LOCAL_SIDECAR_IMAGE}. */
  sidecarImage?: string;
  /** Entrypoint of kvsync in that image; default `['kvsync']`. */
  sidecarCommand?: string[];
  /** A ConfigMap of extra CA certificates for the sidecar, in each pod's namespace (MutationOptions). */
  sidecarCaConfigMap?: { name: string; key: string };
  /** Default `kvsync-webhook`. */
  configurationName?: string;
  /** The self-managed certificate's Secret; default `kvsync-webhook-tls`. */
  secretName?: string;
  /** Further namespace restrictions ANDed into the configuration's selectors (tests). */
  extraNamespaceRequirements?: V1LabelSelectorRequirement[];
  /** Self-managed: how often the Secret is re-checked (default 5 min); files: poll interval (default 10 s). */
  certCheckIntervalMs?: number;
}

export interface ControllerWebhook {
  /** The bound port. */
  port: number;
  /** What the apiserver is told to call. */
  clientUrl: string | undefined;
  /** Renews the self-managed certificate now (tests, manual rotation); undefined with `certDir`. */
  renew: ((force: 'leaf' | 'ca') => Promise<void>) | undefined;
  close(): Promise<void>;
}

function httpStatus(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

/** The certificate's subjectAltNames for how the apiserver reaches the webhook. */
export function webhookNames(endpoint: ControllerWebhookOptions['endpoint'], namespace: string): { dnsNames: string[]; ipAddresses: string[] } {
  if ('url' in endpoint) {
    const host = new URL(endpoint.url).hostname.replace(/^\[|\]$/g, '');
    return isIP(host) === 0 ? { dnsNames: [host], ipAddresses: [] } : { dnsNames: [], ipAddresses: [host] };
  }
  const svc = `${endpoint.service}.${namespace}.svc`;
  return { dnsNames: [svc, `${svc}.cluster.local`], ipAddresses: [] };
}

/**
 * Creates the configuration, or replaces its spec keeping what is already there when `caBundlePem`
 * is undefined (cert-manager's cainjector, or the certificate manager, owns the bundle). Retried on
 * conflict (replicas starting together).
 */
export async function applyWebhookConfiguration(kc: k8s.KubeConfig, desired: V1MutatingWebhookConfiguration, caBundlePem: string | undefined): Promise<void> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const name = desired.metadata?.name ?? '';
  for (let attempt = 0; attempt < 5; attempt++) {
    let existing: V1MutatingWebhookConfiguration | undefined;
    try {
      existing = await api.readMutatingWebhookConfiguration({ name });
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
    try {
      if (existing === undefined) {
        await api.createMutatingWebhookConfiguration({ body: desired });
        return;
      }
      const kept = new Map((existing.webhooks ?? []).map((w) => [w.name, w.clientConfig.caBundle]));
      const webhooks = (desired.webhooks ?? []).map((w) => ({
        ...w,
        clientConfig: { ...w.clientConfig, caBundle: caBundlePem === undefined ? kept.get(w.name) ?? existing.webhooks?.[0]?.clientConfig.caBundle : w.clientConfig.caBundle },
      }));
      const body: V1MutatingWebhookConfiguration = {
        ...desired,
        // Existing labels win: a configuration installed by helm keeps `managed-by: Helm` (the chart's
        // admission policy lets the controller change only the CA bundle).
        metadata: { ...existing.metadata, labels: { ...desired.metadata?.labels, ...existing.metadata?.labels } },
        webhooks,
      };
      await api.replaceMutatingWebhookConfiguration({ name, body });
      return;
    } catch (err) {
      if (httpStatus(err) === 409) continue;
      throw err;
    }
  }
  throw new WebhookCertificateError('Conflict', `MutatingWebhookConfiguration ${name} kept changing while it was being updated`);
}

async function optionalFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `vaults`: the controller's vault host policy (its Azure environment), for the same vault decisions. */
export async function startControllerWebhook(kc: k8s.KubeConfig, namespace: string, opts: ControllerWebhookOptions, log: WebhookLogger, vaults: VaultHostPolicy = AZURE_VAULT_HOSTS_ONLY): Promise<ControllerWebhook> {
  const { host, port } = parseHostPort(opts.addr);
  const configurationName = opts.configurationName ?? DEFAULT_WEBHOOK_CONFIGURATION_NAME;
  const endpoint =
    'url' in opts.endpoint
      ? { url: opts.endpoint.url.replace(/\/$/, '').replace(/\/mutate-pods$/, '') }
      : { service: { namespace, name: opts.endpoint.service, ...(opts.endpoint.port === undefined ? {} : { port: opts.endpoint.port }) } };
  let server: RunningWebhook | undefined = undefined;
  const onChange = (c: ServingCertificate): void => {
    server?.setCertificate(c);
    log.info({ configuration: configurationName }, 'webhook serving certificate changed');
  };
  const onError = (err: unknown): void => log.warn({ err: err instanceof Error ? err.message.split('\n')[0] : String(err) }, 'webhook certificate check failed; serving the previous one');

  let first: ServingCertificate;
  let caBundlePem: string | undefined;
  let manager: SecretCertificateManager | undefined;
  let files: FileCertificateSource | undefined;
  if (opts.certDir !== undefined) {
    files = new FileCertificateSource({
      certFile: join(opts.certDir, 'tls.crt'),
      keyFile: join(opts.certDir, 'tls.key'),
      ...(opts.certCheckIntervalMs === undefined ? {} : { pollIntervalMs: opts.certCheckIntervalMs }),
      onChange,
      onError,
    });
    first = await files.load();
    // cert-manager's Secret carries ca.crt; without it, the bundle is left to cainjector.
    const ca = await optionalFile(join(opts.certDir, 'ca.crt'));
    caBundlePem = ca === undefined || splitCertificates(ca).length === 0 ? undefined : ca;
  } else {
    manager = new SecretCertificateManager({
      kc,
      namespace,
      secretName: opts.secretName ?? DEFAULT_WEBHOOK_SECRET_NAME,
      webhookConfigurationName: configurationName,
      ...webhookNames(opts.endpoint, namespace),
      ...(opts.certCheckIntervalMs === undefined ? {} : { checkIntervalMs: opts.certCheckIntervalMs }),
      onChange,
      onError,
    });
    const certs = await manager.ensure();
    first = certs;
    caBundlePem = certs.caBundlePem;
  }

  server = await startWebhookServer({
    host,
    port,
    certificate: first,
    view: kubeClusterView(kc, vaults),
    mutation: { operatorNamespace: namespace, sidecarImage: opts.sidecarImage ?? LOCAL_SIDECAR_IMAGE, vaults, ...(opts.sidecarCommand === undefined ? {} : { sidecarCommand: opts.sidecarCommand }), ...(opts.sidecarCaConfigMap === undefined ? {} : { sidecarCaConfigMap: opts.sidecarCaConfigMap }) },
    logger: log,
  });
  try {
    const desired = webhookConfiguration({
      name: configurationName,
      operatorNamespace: namespace,
      endpoint,
      ...(caBundlePem === undefined ? {} : { caBundlePem }),
      ...(opts.extraNamespaceRequirements === undefined ? {} : { extraNamespaceRequirements: opts.extraNamespaceRequirements }),
    });
    // An existing configuration keeps its bundle when self-managed: ensure() below publishes the
    // Secret's current one (another replica may have renewed since our first read).
    await applyWebhookConfiguration(kc, desired, manager === undefined ? caBundlePem : undefined);
    await manager?.ensure();
  } catch (err) {
    await server.close();
    throw err;
  }
  manager?.start();
  files?.start();
  const running = server;
  log.info({ port: running.port, configuration: configurationName, certificates: files === undefined ? 'self-managed' : 'files' }, 'webhook serving');
  const clientUrl = 'url' in endpoint ? `${endpoint.url}/mutate-pods` : undefined;
  return {
    port: running.port,
    clientUrl,
    renew:
      manager === undefined
        ? undefined
        : async (force) => {
            await manager.ensure(force);
          },
    async close() {
      manager?.stop();
      files?.stop();
      await running.close();
    },
  };
}

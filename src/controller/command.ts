/**
 * `kvsync controller [--kubeconfig FILE] [--azure-endpoints FILE] [--allowed-vault-hosts LIST] [--namespace NS]
 *   [--health-addr 127.0.0.1:8081] [--concurrency 8] [--leader-elect=true] [--watch-namespace NS]
 *   [--expiry-warning-window 720h] [--object-cache-max-bytes 64Mi] [--max-workers-per-vault N]
 *   [--sync-timeout 2m] [--azure-request-timeout 30s] [--tls-sources=true]
 *   [--webhook-addr HOST:PORT (--webhook-url URL | --webhook-service NAME) [--webhook-cert-dir DIR]
 *   [--webhook-sidecar-image IMAGE]] [--eventgrid-addr HOST:PORT …]` (docs/eventgrid.md)
 * Runs until SIGTERM/SIGINT, then shuts down gracefully (informers stopped, in-flight reconciles
 * drained, lease released).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeFsError } from '../util/fs-errors.ts';
import { createLogger, isLogFormat, LOG_FORMAT_USAGE } from '../util/log.ts';
import { parseGoDuration } from '../api/index.ts';
import { ALLOWED_VAULT_HOSTS_USAGE, allowedVaultHostsFlag } from '../api/vault-url.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../keyvault/azure-environment.ts';
import { DEFAULT_VAULT_REQUESTS_PER_10S } from '../keyvault/vault-guard.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_OPERATOR_NAMESPACE, startController, type ControllerOptions } from './controller.ts';
import { errorSummary } from './error-summary.ts';
import { defaultMaxWorkersPerVault } from './sync-vaults.ts';
import { parseHostPort } from './health.ts';
import { DEFAULT_WEBHOOK_CONFIGURATION_NAME, LOCAL_SIDECAR_IMAGE, type ControllerWebhookOptions } from './webhook.ts';
import { parseCommandArgs } from '../cli-args.ts';
import { EVENTGRID_USAGE, eventGridOptions } from '../eventgrid/flags.ts';
import type { EventGridOptions } from '../eventgrid/start.ts';

const USAGE = `usage: kvsync controller [flags]

  --kubeconfig FILE        kubeconfig (default: in-cluster, then $KUBECONFIG / ~/.kube/config)
  --azure-endpoints FILE   an emulator's endpoints.json (trust its CA, use its hosts)
${ALLOWED_VAULT_HOSTS_USAGE}
  --namespace NS           operator namespace: MAC key Secret and leader Lease (default ${DEFAULT_OPERATOR_NAMESPACE})
  --watch-namespace NS     only sync KeyVaultSyncs in NS (default: all namespaces)
  --health-addr ADDR       /healthz and /readyz (default 127.0.0.1:8081)
  --concurrency N          reconciles at once (default 8)
  --leader-elect BOOL      leader election on a Lease (default true)
  --tls-sources BOOL       fill the TLS Secrets that Ingresses and Gateway listeners ask for with
                           kvsync.dev/tls-certificate (watches Ingresses, and Gateways when served;
                           default true)
  --log-level LEVEL        pino level (default info)
  ${LOG_FORMAT_USAGE}
  --vault-requests-per-10s N
                           Key Vault requests per vault in any 10 s span (default 2000: half of
                           Key Vault's published 4,000 per 10 s; a 429 pauses the vault for Retry-After)
  --expiry-warning-window D  Warning event CertificateExpiring when a synced certificate expires
                           within D (Go duration, default 720h = 30 days)
  --object-cache-max-bytes N
                           bytes of Key Vault reads kept in memory (values and decoded certificates),
                           least recently used evicted first; N or N with Ki, Mi, Gi (default 64Mi)
  --max-workers-per-vault N  KeyVaultSyncs of one vault reconciled at once (default: half of
                           --concurrency, rounded up), so a vault that hangs never takes every worker
  --sync-timeout D         deadline of one sync, credential to status (Go duration, default 2m);
                           then SyncTimeout, the last good Secrets stay, retried with backoff
  --azure-request-timeout D  deadline of one Key Vault, Entra ID, IMDS or TokenRequest call: connect,
                           TLS and the whole response (Go duration, default 30s); then VaultTimeout
                           or AuthenticationTimeout

  Pod admission webhook (off unless --webhook-addr is given; served on every replica):
  --webhook-addr ADDR      serve HTTPS on ADDR, e.g. 0.0.0.0:9443
  --webhook-url URL        the apiserver calls this URL (local runs), e.g. https://127.0.0.1:9443/mutate-pods
  --webhook-service NAME   ... or this Service in the operator namespace (port 443)
  --webhook-cert-dir DIR   tls.crt/tls.key (e.g. cert-manager; ca.crt, if present, becomes the CA bundle)
                           (default: a self-managed CA and certificate in the Secret kvsync-webhook-tls)
  --webhook-sidecar-image IMAGE
                           image of the kvsync mount sidecar: this controller's own image (the Helm
                           chart passes it); required with --webhook-service, default ${LOCAL_SIDECAR_IMAGE} with --webhook-url
  --webhook-sidecar-ca-configmap NAME[/KEY]
                           extra CA certificates the sidecar trusts (a proxy's, a private cloud's): key
                           KEY (default ca.crt) of ConfigMap NAME in the pod's namespace, if it exists
  The MutatingWebhookConfiguration ${DEFAULT_WEBHOOK_CONFIGURATION_NAME} is created or updated at start.

${EVENTGRID_USAGE}`;

/**
 * Loads the kubeconfig: the flag, else in-cluster when running in a pod, else the usual default.
 * @throws Error naming the flag and the file when `file` cannot be read or parsed
 */
export function loadKubeConfig(file: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file !== undefined) {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      const why = (err as { code?: unknown }).code !== undefined ? describeFsError(err) : `not a kubeconfig (${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''})`;
      // No cause: a YAML error quotes the file, and a kubeconfig can hold a token.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`--kubeconfig ${file}: ${why}`);
    }
  }
  else if (process.env.KUBERNETES_SERVICE_HOST !== undefined && process.env.KUBECONFIG === undefined) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

function parseBool(v: string, flag: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new RangeError(`${flag}: expected true or false, got "${v}"`);
}

interface WebhookFlags {
  'webhook-addr'?: string | undefined;
  'webhook-url'?: string | undefined;
  'webhook-service'?: string | undefined;
  'webhook-cert-dir'?: string | undefined;
  'webhook-sidecar-image'?: string | undefined;
  'webhook-sidecar-ca-configmap'?: string | undefined;
}

/**
 * The webhook flags as {@link ControllerWebhookOptions}; undefined when `--webhook-addr` is absent.
 * @throws RangeError on an inconsistent or malformed combination
 */
export function webhookOptions(flags: WebhookFlags): ControllerWebhookOptions | undefined {
  const addr = flags['webhook-addr'];
  const url = flags['webhook-url'];
  const service = flags['webhook-service'];
  if (addr === undefined) {
    const stray = (['webhook-url', 'webhook-service', 'webhook-cert-dir', 'webhook-sidecar-image', 'webhook-sidecar-ca-configmap'] as const).find((f) => flags[f] !== undefined);
    if (stray !== undefined) throw new RangeError(`--${stray} needs --webhook-addr`);
    return undefined;
  }
  parseHostPort(addr);
  if ((url === undefined) === (service === undefined)) throw new RangeError('--webhook-addr needs exactly one of --webhook-url and --webhook-service');
  let endpoint: ControllerWebhookOptions['endpoint'];
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new RangeError(`--webhook-url: not a URL: "${url}"`);
    }
    if (parsed.protocol !== 'https:') throw new RangeError('--webhook-url must be an https:// URL');
    endpoint = { url };
  } else {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(service ?? '')) throw new RangeError(`--webhook-service: not a Service name: "${service ?? ''}"`);
    // A guessed image would leave every injected pod unable to start: the deployment must name it.
    if (flags['webhook-sidecar-image'] === undefined) throw new RangeError("--webhook-service needs --webhook-sidecar-image IMAGE: this controller's own image, which the mount sidecar runs (the Helm chart passes it)");
    endpoint = { service: service ?? '' };
  }
  return {
    addr,
    endpoint,
    ...(flags['webhook-cert-dir'] === undefined ? {} : { certDir: flags['webhook-cert-dir'] }),
    ...(flags['webhook-sidecar-image'] === undefined ? {} : { sidecarImage: flags['webhook-sidecar-image'] }),
    ...(flags['webhook-sidecar-ca-configmap'] === undefined ? {} : { sidecarCaConfigMap: parseConfigMapKey(flags['webhook-sidecar-ca-configmap']) }),
  };
}

/** `NAME[/KEY]` → the ConfigMap and its key (default ca.crt). */
function parseConfigMapKey(value: string): { name: string; key: string } {
  const [name = '', key = 'ca.crt', ...rest] = value.split('/');
  if (rest.length > 0 || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name) || !/^[-._a-zA-Z0-9]+$/.test(key)) {
    throw new RangeError(`--webhook-sidecar-ca-configmap: expected NAME[/KEY] (a ConfigMap name and key), got "${value}"`);
  }
  return { name, key };
}

/** A flag's positive Go duration in ms; undefined after printing why it is not one. */
function positiveDuration(value: string, flag: string): number | undefined {
  const ms = parseGoDuration(value);
  if (ms !== undefined && ms > 0) return ms;
  console.error(`kvsync controller: ${flag} must be a positive Go duration such as 30s or 2m\n\n${USAGE}`);
  return undefined;
}

/**
 * Parses and checks `kvsync controller`'s flags without starting anything (the Helm chart's test runs
 * its rendered args through this to catch drift).
 * @returns the flags, or the exit code (2 after printing why; 0 after --help)
 */
export function parseControllerArgs(argv: string[]) {
  const parsed = parseCommandArgs('controller', USAGE, {
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      'azure-endpoints': { type: 'string' },
      'allowed-vault-hosts': { type: 'string' },
      namespace: { type: 'string', default: DEFAULT_OPERATOR_NAMESPACE },
      'watch-namespace': { type: 'string' },
      'health-addr': { type: 'string', default: '127.0.0.1:8081' },
      concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) },
      'leader-elect': { type: 'string', default: 'true' },
      'tls-sources': { type: 'string', default: 'true' },
      'log-level': { type: 'string', default: 'info' },
      'log-format': { type: 'string', default: 'auto' },
      'vault-requests-per-10s': { type: 'string', default: String(DEFAULT_VAULT_REQUESTS_PER_10S) },
      'expiry-warning-window': { type: 'string', default: '720h' },
      'object-cache-max-bytes': { type: 'string', default: '64Mi' },
      'max-workers-per-vault': { type: 'string' },
      'sync-timeout': { type: 'string', default: '2m' },
      'azure-request-timeout': { type: 'string', default: '30s' },
      'webhook-addr': { type: 'string' },
      'webhook-url': { type: 'string' },
      'webhook-service': { type: 'string' },
      'webhook-cert-dir': { type: 'string' },
      'webhook-sidecar-image': { type: 'string' },
      'webhook-sidecar-ca-configmap': { type: 'string' },
      'eventgrid-addr': { type: 'string' },
      'eventgrid-path': { type: 'string' },
      'eventgrid-cert-dir': { type: 'string' },
      'eventgrid-key-file': { type: 'string' },
      'eventgrid-audience': { type: 'string' },
      'eventgrid-tenant-id': { type: 'string' },
      'eventgrid-client-id': { type: 'string' },
      'eventgrid-pod': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (!isLogFormat(values['log-format'])) {
    console.error(`kvsync controller: --log-format must be json, text or auto, got "${values['log-format']}"\n\n${USAGE}`);
    return 2;
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    console.error(`kvsync controller: --concurrency must be a positive integer\n\n${USAGE}`);
    return 2;
  }
  const expiryWarningWindowMs = parseGoDuration(values['expiry-warning-window']);
  if (expiryWarningWindowMs === undefined || expiryWarningWindowMs <= 0) {
    console.error(`kvsync controller: --expiry-warning-window must be a positive Go duration such as 720h\n\n${USAGE}`);
    return 2;
  }
  const maxWorkersPerVault = values['max-workers-per-vault'] === undefined ? defaultMaxWorkersPerVault(concurrency) : Number(values['max-workers-per-vault']);
  if (!Number.isInteger(maxWorkersPerVault) || maxWorkersPerVault < 1) {
    console.error(`kvsync controller: --max-workers-per-vault must be a positive integer\n\n${USAGE}`);
    return 2;
  }
  const syncTimeoutMs = positiveDuration(values['sync-timeout'], '--sync-timeout');
  const azureRequestTimeoutMs = positiveDuration(values['azure-request-timeout'], '--azure-request-timeout');
  if (syncTimeoutMs === undefined || azureRequestTimeoutMs === undefined) return 2;
  const vaultRequestsPer10s = Number(values['vault-requests-per-10s']);
  if (!Number.isInteger(vaultRequestsPer10s) || vaultRequestsPer10s < 1) {
    console.error(`kvsync controller: --vault-requests-per-10s must be a positive integer\n\n${USAGE}`);
    return 2;
  }
  const objectCacheMaxBytes = parseByteSize(values['object-cache-max-bytes']);
  if (objectCacheMaxBytes === undefined) {
    console.error(`kvsync controller: --object-cache-max-bytes must be a number of bytes such as 67108864 or 64Mi\n\n${USAGE}`);
    return 2;
  }
  let leaderElect: boolean;
  let tlsSources: boolean;
  try {
    leaderElect = parseBool(values['leader-elect'], '--leader-elect');
    tlsSources = parseBool(values['tls-sources'], '--tls-sources');
  } catch (err) {
    console.error(`kvsync controller: ${(err as Error).message}`);
    return 2;
  }
  let webhook: ControllerWebhookOptions | undefined;
  let eventGrid: EventGridOptions | undefined;
  let allowedVaultHosts: string[];
  try {
    webhook = webhookOptions(values);
    eventGrid = eventGridOptions(values);
    allowedVaultHosts = allowedVaultHostsFlag(values['allowed-vault-hosts']);
  } catch (err) {
    console.error(`kvsync controller: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  return { values, concurrency, leaderElect, tlsSources, webhook, eventGrid, expiryWarningWindowMs, allowedVaultHosts, objectCacheMaxBytes, maxWorkersPerVault, syncTimeoutMs, azureRequestTimeoutMs };
}

const BYTE_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** `N`, `NKi`, `NMi` or `NGi` (Kubernetes' binary suffixes) as bytes; undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d{1,12})(Ki|Mi|Gi)?$/.exec(text.trim());
  if (m === null) return undefined;
  const bytes = Number(m[1]) * (BYTE_UNITS[m[2] ?? ''] ?? 1);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * What `kvsync controller` passes to {@link startController} for parsed flags (the chart's RBAC test
 * runs the controller from the chart's rendered args through this).
 */
export function controllerOptions(args: Exclude<ReturnType<typeof parseControllerArgs>, number>, kubeConfig: k8s.KubeConfig, azure: AzureEnvironment, log: Logger): ControllerOptions {
  const { values, concurrency, leaderElect, tlsSources, webhook, eventGrid, expiryWarningWindowMs, objectCacheMaxBytes, maxWorkersPerVault, syncTimeoutMs, azureRequestTimeoutMs } = args;
  return {
    kubeConfig,
    azure,
    namespace: values.namespace,
    ...(values['watch-namespace'] === undefined ? {} : { watchNamespace: values['watch-namespace'] }),
    healthAddr: values['health-addr'],
    concurrency,
    leaderElect,
    tlsSources,
    vaultRequestsPer10s: Number(values['vault-requests-per-10s']),
    maxWorkersPerVault,
    syncTimeoutMs,
    azureRequestTimeoutMs,
    expiryWarningWindowMs,
    objectCacheMaxBytes,
    ...(webhook === undefined ? {} : { webhook }),
    ...(eventGrid === undefined ? {} : { eventGrid }),
    log,
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseControllerArgs(argv);
  if (typeof args === 'number') return args;
  const { values } = args;
  const log = createLogger({ name: 'kvsync-controller', level: values['log-level'], format: isLogFormat(values['log-format']) ? values['log-format'] : 'auto' });
  let kc: k8s.KubeConfig;
  try {
    kc = loadKubeConfig(values.kubeconfig);
  } catch (err) {
    console.error(`kvsync controller: ${(err as Error).message}`);
    return 2;
  }
  const azure = await loadAzureEnvironment({ allowedVaultHosts: args.allowedVaultHosts, ...(values['azure-endpoints'] === undefined ? {} : { endpointsFile: values['azure-endpoints'] }) });
  const controller = await startController(controllerOptions(args, kc, azure, log));
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await controller.stop();
  } catch (err) {
    log.error({ err: errorSummary(err) }, 'shutdown failed');
    return 1;
  }
  return 0;
}

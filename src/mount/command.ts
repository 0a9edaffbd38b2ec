/**
 * `kvsync mount --spec-json JSON | --spec-file FILE [--dir DIR] [--azure-endpoints FILE] [--allowed-vault-hosts LIST]
 *   [--ready-file PATH] [--ready-port N] [--uid N] [--gid N] [--log-level LEVEL]`
 *
 * The mount sidecar (see sidecar.ts): fetches a KeyVaultSync's objects with the pod's own identity and
 * keeps them as files in DIR with kubelet's atomic-writer layout. Needs no Kubernetes API access.
 *
 * The spec is a whole KeyVaultSync (apiVersion, kind, metadata, spec) or just its `spec`, as JSON (or
 * YAML in a file). SIGHUP refreshes at once. Exit codes: 0 after SIGTERM/SIGINT, 2 for bad usage, an
 * invalid spec or an identity the sidecar cannot use. Key Vault failures never end the process: they
 * are logged and retried.
 */
import { readFile } from 'node:fs/promises';
import { createLogger, isLogFormat, LOG_FORMAT_USAGE } from '../util/log.ts';
import { parse as parseYaml } from 'yaml';
import { API_VERSION } from '../api/crd.ts';
import { parseKeyVaultSync } from '../api/parse.ts';
import { ALLOWED_VAULT_HOSTS_USAGE, allowedVaultHostsFlag, AZURE_VAULT_HOSTS_ONLY } from '../api/vault-url.ts';
import type { VaultHostPolicy } from '../api/vault-url.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { loadAzureEnvironment } from '../keyvault/azure-environment.ts';
import { KeyVaultAccess } from '../keyvault/access.ts';
import { fetchObjects } from '../keyvault/fetch.ts';
import { guardTokenRefresh } from '../keyvault/token-refresh-guard.ts';
import { podCredential } from './credential.ts';
import { MountError } from './errors.ts';
import { startReadinessServer } from './readiness.ts';
import type { ReadinessServer } from './readiness.ts';
import { MountSidecar } from './sidecar.ts';
import { parseCommandArgs } from '../cli-args.ts';

export const DEFAULT_MOUNT_DIR = '/mnt/secrets-store';

const USAGE = `usage: kvsync mount (--spec-json JSON | --spec-file FILE) [flags]

Fetches a KeyVaultSync's objects with the pod's own identity and writes one file per object alias
into DIR atomically (kubelet layout: ..data symlink, per-file symlinks), refreshing on its interval.
  --spec-json JSON         the KeyVaultSync (or its spec) as JSON
  --spec-file FILE         the same from a file (JSON or YAML)
  --dir DIR                where to write (default ${DEFAULT_MOUNT_DIR})
  --azure-endpoints FILE   an emulator's endpoints.json (CA, authority, IMDS, vault hosts)
${ALLOWED_VAULT_HOSTS_USAGE}
  --ready-file PATH        written after the first complete write
  --ready-port N           serve GET /readyz (200 after the first complete write) and /healthz
  --uid N, --gid N         owner and group (fsGroup) of the files, when running as root
  --log-level LEVEL        pino level (default info)
  ${LOG_FORMAT_USAGE}
SIGHUP refreshes at once; SIGTERM/SIGINT stop (exit 0).
Identity: workloadIdentity from AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE,
AZURE_AUTHORITY_HOST; podIdentity/managedIdentity from IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST).`;

function fail(line: string): number {
  console.error(`kvsync mount: ${line}`);
  return 2;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses the spec text (a KeyVaultSync or a bare spec); `vaults` resolves and allows its vault as the
 * controller and the webhook do.
 * @throws MountError InvalidSpec naming the field paths.
 */
export function parseMountSpec(text: string, vaults: VaultHostPolicy = AZURE_VAULT_HOSTS_ONLY): ResolvedKeyVaultSync {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    throw new MountError('InvalidSpec', 'the spec is neither JSON nor YAML');
  }
  const obj = isRecord(doc) && doc.kind === undefined && doc.spec === undefined ? { apiVersion: API_VERSION, kind: 'KeyVaultSync', metadata: {}, spec: doc } : doc;
  const parsed = parseKeyVaultSync(obj, vaults);
  if (!parsed.ok) throw new MountError('InvalidSpec', parsed.error.message);
  return parsed.value;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new MountError('InvalidArguments', `--${name} must be a non-negative integer`);
  return Number(v);
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('mount', USAGE, {
    args: argv,
    allowPositionals: false,
    options: {
      'spec-json': { type: 'string' },
      'spec-file': { type: 'string' },
      dir: { type: 'string', default: DEFAULT_MOUNT_DIR },
      'azure-endpoints': { type: 'string' },
      'allowed-vault-hosts': { type: 'string' },
      'ready-file': { type: 'string' },
      'ready-port': { type: 'string' },
      uid: { type: 'string' },
      gid: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'log-format': { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const specJson = values['spec-json'];
  const specFile = values['spec-file'];
  if ((specJson === undefined) === (specFile === undefined)) return fail(`exactly one of --spec-json and --spec-file is required\n${USAGE}`);

  const logFormat = values['log-format'];
  if (!isLogFormat(logFormat)) return fail(`--log-format must be json, text or auto, got "${logFormat}"\n${USAGE}`);
  const log = createLogger({ name: 'kvsync-mount', level: values['log-level'], format: logFormat });
  guardTokenRefresh(log);
  let sync: ResolvedKeyVaultSync;
  let sidecar: MountSidecar;
  let readyPort: number | undefined;
  try {
    const uid = intFlag('uid', values.uid);
    const gid = intFlag('gid', values.gid);
    readyPort = intFlag('ready-port', values['ready-port']);
    const endpointsFile = values['azure-endpoints'];
    let allowedVaultHosts: string[];
    try {
      allowedVaultHosts = allowedVaultHostsFlag(values['allowed-vault-hosts']);
    } catch (err) {
      throw new MountError('InvalidArguments', (err as Error).message);
    }
    const env = await loadAzureEnvironment({ allowedVaultHosts, ...(endpointsFile === undefined ? {} : { endpointsFile }) });
    sync = parseMountSpec(specJson ?? (await readFile(specFile ?? '', 'utf8').catch(() => Promise.reject(new MountError('InvalidArguments', `cannot read --spec-file ${specFile ?? ''}`)))), env);
    const { credential, description } = podCredential(sync, env);
    log.info({ vault: sync.vault.url, identity: description, objects: sync.objects.map((o) => o.outputName), dir: values.dir, refreshIntervalMs: sync.refreshIntervalMs }, 'starting');
    const access = new KeyVaultAccess();
    sidecar = new MountSidecar({
      sync,
      dir: values.dir,
      fetch: (s) => fetchObjects(s, credential, env, { access }),
      log,
      owner: { ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) },
      ...(values['ready-file'] === undefined ? {} : { readyFile: values['ready-file'] }),
    });
  } catch (err) {
    const reason = err instanceof MountError ? `${err.reason}: ` : '';
    return fail(`${reason}${err instanceof Error ? err.message : String(err)}`);
  }

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'stopping');
    stop.abort();
  };
  const onHangup = (): void => {
    log.info({ signal: 'SIGHUP' }, 'refreshing now');
    sidecar.refreshNow();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  let server: ReadinessServer | undefined;
  try {
    if (readyPort !== undefined) {
      server = await startReadinessServer(readyPort, '0.0.0.0', () => sidecar.ready);
      log.info({ port: server.port }, 'serving /readyz and /healthz');
    }
    await sidecar.run(stop.signal);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangup);
    await server?.close();
  }
  log.info({}, 'stopped');
  return 0;
}

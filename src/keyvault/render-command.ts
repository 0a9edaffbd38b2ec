/**
 * `kvsync render -f FILE [--azure-endpoints FILE] [--allowed-vault-hosts LIST] [--show-values]`
 *
 * Prints the Secrets (and ConfigMaps) a KeyVaultSync would produce, without a cluster, through the same
 * code path as the controller: parseKeyVaultSync → fetchObjects → renderOutputs.
 *
 * The KeyVaultSync's own identity needs a cluster (ServiceAccounts, Secrets, KeyVaultIdentities), so
 * render authenticates as:
 * - with `--azure-endpoints FILE` (a `kvsync emulator` endpoints.json): the emulator's `admin` service
 *   principal, trusting the emulator's CA; a vault given by name only is looked up in the file's `vaults`;
 * - otherwise: a service principal from AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID
 *   (AZURE_AUTHORITY_HOST honoured).
 *
 * Values are replaced by `<redacted: N bytes>` unless `--show-values`. Exit codes: 0 rendered, 1 a
 * required object failed or the outputs could not be built (one line per failure on stderr), 2 bad
 * usage or an invalid file.
 */
import { readFile } from 'node:fs/promises';
import { ClientSecretCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/identity';
import { parseAllDocuments, stringify } from 'yaml';
import { isGuid, isTenantId } from '../api/azure-ids.ts';
import { parseClusterKeyVaultSync } from '../api/parse-cluster.ts';
import { parseKeyVaultSync } from '../api/parse.ts';
import { ALLOWED_VAULT_HOSTS_USAGE, allowedVaultHostsFlag } from '../api/vault-url.ts';
import type { VaultHostPolicy } from '../api/vault-url.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { credentialOptions, loadAzureEnvironment } from './azure-environment.ts';
import type { AzureEnvironment } from './azure-environment.ts';
import { isSyncError, type SyncError } from './errors.ts';
import { KeyVaultAccess } from './access.ts';
import { fetchObjects, listCurrentVersions } from './fetch.ts';
import { hasSelectors, selectFromListing } from './selection.ts';
import { renderOutputs } from './outputs.ts';
import type { DesiredConfigMap, DesiredSecret } from './outputs.ts';
import { parseCommandArgs } from '../cli-args.ts';
import { describeFsError } from '../util/fs-errors.ts';

const USAGE = `usage: kvsync render -f FILE [--azure-endpoints FILE] [--allowed-vault-hosts LIST] [--show-values]

Prints the Secrets a KeyVaultSync would produce, as YAML, without a cluster.
  -f, --file FILE          a YAML file with one or more KeyVaultSync (or ClusterKeyVaultSync) documents ("-" for stdin)
  --azure-endpoints FILE   an emulator's endpoints.json: authenticate as its admin principal
  --show-values            print the values (base64) instead of <redacted: N bytes>
${ALLOWED_VAULT_HOSTS_USAGE}
Without --azure-endpoints, authenticates with AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID.`;

function fail(code: number, line: string): number {
  console.error(`kvsync render: ${line}`);
  return code;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('render', USAGE, {
    args: argv,
    allowPositionals: false,
    options: {
      file: { type: 'string', short: 'f' },
      'azure-endpoints': { type: 'string' },
      'allowed-vault-hosts': { type: 'string' },
      'show-values': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.file === undefined) return fail(2, `-f FILE is required\n${USAGE}`);

  const endpointsFile = values['azure-endpoints'];
  let env: AzureEnvironment;
  let syncs: RenderedSync[];
  try {
    const allowedVaultHosts = allowedVaultHostsFlag(values['allowed-vault-hosts']);
    env = await loadAzureEnvironment({ allowedVaultHosts, ...(endpointsFile === undefined ? {} : { endpointsFile }) });
    syncs = await readSyncs(values.file, env);
  } catch (err) {
    return fail(2, err instanceof Error ? err.message : String(err));
  }

  const docs: string[] = [];
  const access = new KeyVaultAccess();
  let failed = false;
  for (const { sync, label } of syncs) {
    const credential = renderCredential(sync, env);
    if (typeof credential === 'string') return fail(2, credential);
    // Object selectors are expanded against one listing of the vault's secrets, as the controller does.
    const selection = hasSelectors(sync) ? await selectFromListing(sync, undefined, () => listCurrentVersions(sync.vault.url, credential, env, 'secrets', { access })) : { sync };
    const selected = 'failure' in selection ? sync : selection.sync;
    const { fetched, failures } = 'failure' in selection ? { fetched: [], failures: [selection.failure] } : await fetchObjects(selected, credential, env, { access });
    for (const line of failureLines(failures, endpointsFile)) console.error(`kvsync render: ${label}: ${line}`);
    if (failures.some((f) => !f.optional)) {
      failed = true;
      continue;
    }
    try {
      const out = renderOutputs(selected, fetched);
      for (const s of out.secrets) docs.push(stringify(secretManifest(s, sync.namespace, values['show-values'])));
      for (const c of out.configMaps) docs.push(stringify(configMapManifest(c, sync.namespace)));
    } catch (err) {
      failed = true;
      console.error(`kvsync render: ${label}: ${isSyncError(err) ? `${err.reason}: ${err.message}` : err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (docs.length > 0) process.stdout.write(docs.map((d) => `---\n${d}`).join(''));
  return failed ? 1 : 0;
}

const OUTAGE_REASONS: ReadonlySet<string> = new Set(['VaultUnreachable', 'VaultUnavailable']);

/**
 * One line per failure, except when the vault itself could not be reached: then every object failed
 * for that one cause (and, after a few, the vault's circuit breaker fails the rest fast), so a single
 * line names the cause and what to check.
 */
function failureLines(failures: readonly SyncError[], endpointsFile: string | undefined): string[] {
  if (failures.length === 0 || !failures.every((f) => OUTAGE_REASONS.has(f.reason))) {
    return failures.map((f) => `${f.optional ? 'optional object skipped: ' : ''}${f.reason}: ${f.message}`);
  }
  const check = endpointsFile === undefined ? 'check the vault URL and the network' : `is the emulator of ${endpointsFile} running?`;
  const cause = failures.find((f) => f.reason === 'VaultUnreachable');
  // Only breaker failures: the vault failed for an earlier KeyVaultSync of this run.
  if (cause === undefined) return [`VaultUnreachable: the vault did not answer earlier in this run, so none of its ${failures.length} object(s) were read (${check})`];
  const others = failures.length > 1 ? `; its other ${failures.length - 1} object(s) were not read either` : '';
  return [`VaultUnreachable: ${cause.message}${others} (${check})`];
}

/** A parsed document and how messages name it. */
interface RenderedSync {
  sync: ResolvedKeyVaultSync;
  label: string;
}

/**
 * The KeyVaultSyncs and ClusterKeyVaultSyncs of the file. A ClusterKeyVaultSync renders its Secrets
 * once, without a namespace: the same Secrets go into every namespace it selects.
 */
async function readSyncs(file: string, vaults: VaultHostPolicy): Promise<RenderedSync[]> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((err: unknown) => Promise.reject(new Error(`cannot read ${file}: ${describeFsError(err)}`)));
  const docs = parseAllDocuments(text);
  const syncs: RenderedSync[] = [];
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length > 0) throw new Error(`${file}: document ${i + 1} is not valid YAML: ${doc.errors[0]?.message ?? ''}`);
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const kind = (obj as { kind?: unknown }).kind;
    if (kind !== 'KeyVaultSync' && kind !== 'ClusterKeyVaultSync') continue;
    const result = kind === 'KeyVaultSync' ? parseKeyVaultSync(obj, vaults) : parseClusterKeyVaultSync(obj, vaults);
    for (const w of result.warnings) console.error(`kvsync render: warning: ${w}`);
    if (!result.ok) throw new Error(`${file}: document ${i + 1}: ${result.error.message}`);
    const sync = 'sync' in result.value ? result.value.sync : result.value;
    syncs.push({ sync, label: kind === 'KeyVaultSync' ? `KeyVaultSync ${sync.namespace ?? 'default'}/${sync.name ?? '(unnamed)'}` : `ClusterKeyVaultSync ${sync.name ?? '(unnamed)'}` });
  }
  if (syncs.length === 0) throw new Error(`${file} holds no KeyVaultSync or ClusterKeyVaultSync`);
  return syncs;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The credential render uses, or a usage error line. */
export function renderCredential(sync: ResolvedKeyVaultSync, env: AzureEnvironment): TokenCredential | string {
  const options = credentialOptions(env, sync.vault.cloudName);
  if (env.emulatorAdmin !== undefined) {
    const tenant = env.defaultTenantId ?? sync.vault.tenantID ?? '';
    return new ClientSecretCredential(tenant, env.emulatorAdmin.clientID, env.emulatorAdmin.clientSecret, options);
  }
  const clientId = process.env.AZURE_CLIENT_ID;
  const secret = process.env.AZURE_CLIENT_SECRET;
  const tenant = sync.vault.tenantID ?? process.env.AZURE_TENANT_ID;
  if (clientId === undefined || secret === undefined || tenant === undefined) {
    return 'without --azure-endpoints, set AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID (a service principal that may read the vault)';
  }
  // Never quoted: a misplaced password would otherwise be sent to Entra, which echoes client IDs.
  if (!isGuid(clientId)) return 'AZURE_CLIENT_ID is not a client ID (a GUID)';
  if (!isTenantId(tenant)) return 'the tenant (spec.vault.tenantID or AZURE_TENANT_ID) is not a tenant ID (a GUID or a domain name)';
  return new ClientSecretCredential(tenant, clientId, secret, options);
}

function redact(data: Record<string, Buffer>, show: boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, show ? v.toString('base64') : `<redacted: ${v.length} bytes>`]));
}

/** A Secret manifest; values base64 (as in `data`) with `show`, else redacted. */
export function secretManifest(s: DesiredSecret, namespace: string | undefined, show: boolean): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: s.name, ...(namespace === undefined ? {} : { namespace }), labels: s.labels, ...(Object.keys(s.annotations).length > 0 ? { annotations: s.annotations } : {}) },
    type: s.type,
    data: redact(s.data, show),
  };
}

/** A ConfigMap manifest (public material only, so never redacted). */
export function configMapManifest(c: DesiredConfigMap, namespace: string | undefined): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: c.name, ...(namespace === undefined ? {} : { namespace }), labels: c.labels, ...(Object.keys(c.annotations).length > 0 ? { annotations: c.annotations } : {}) },
    data: c.data,
  };
}

/**
 * What the Azure fault rows share: a control plane of their own, the Key Vault emulator with a vault
 * per row, a controller, a watch that keeps every state each Secret of
 * the test namespace ever had, and the checks of what a user sees of a failing KeyVaultSync (its
 * conditions, its events, `kvsync_syncs_total`), which must carry kvsync's own words, never Azure's.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { installCrds } from '../../src/api/install.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import type { KeyVaultSyncObject } from '../../src/controller/reconciler.ts';
import { startControlPlane, type RunningControlPlane } from '../../src/dev/control-plane.ts';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server.ts';
import { loadAzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { admin, clientsFor, credentialFor, type Clients } from '../integration/emulator/kv-support.ts';
import { conditionOf, syncApi, type ConditionView } from '../integration/controller/support.ts';

/** Every read kvsync makes of secrets and certificates: faults on these leave the test's writes alone. */
export const READ_OPERATIONS = ['getSecret', 'listSecrets', 'listSecretVersions', 'getCertificate', 'listCertificates', 'listCertificateVersions', 'getCertificateOperation'] as const;

/** Text only Azure (the emulator) writes: none of it may reach a condition, an event or a metric. */
export const AZURE_TEXT = [/injected fault/i, /A transient error has occurred/, /temporarily unavailable/i, /AKV\d{5}/, /<html/i, /Trace ID/];

/**
 * The deadline of each Azure request: a third of the default, so that a fault noticed only at the
 * deadline would show (as VaultTimeout) within the row's time; the cut-body row checks none does.
 */
const AZURE_REQUEST_TIMEOUT_MS = 10_000;

export const SP_NAME = 'fault-app';
const SP_SECRET = 'fault-app-secret';
/** The managed identity IMDS serves, granted to the test namespace through a KeyVaultIdentity. */
export const POD_IDENTITY = 'fault-pod';

/**
 * The credential of the test's own Key Vault clients (rotations, deletions): it waits out an Entra ID outage
 * instead of failing. They take tokens from the same Entra ID as the controller, whose outage rows would
 * otherwise fail the test's writes; and the SDK refreshes a token near its end in the background, leaving the
 * last failed attempt unhandled (with 10 s tokens every request starts one), which vitest reports as an
 * error of the run. The rows judge the controller, not the test's writer.
 */
class PatientCredential implements TokenCredential {
  readonly #inner: TokenCredential;

  constructor(inner: TokenCredential) {
    this.#inner = inner;
  }

  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    return pollUntil(async () => (await this.#inner.getToken(scopes, options)) ?? undefined, {
      timeoutMs: 300_000,
      intervalMs: 1000,
      description: "a token for the test's own Key Vault clients",
    });
  }
}

export interface FaultWorld {
  controlPlane: RunningControlPlane;
  kc: k8s.KubeConfig;
  emu: RunningEmulator;
  /** The emulator's admin clients (Key Vault Administrator) per vault: rotations, deletions. */
  kv(vault: string): Clients;
  ns: string;
  controller(): RunningController;
  /** A KeyVaultSync spec on `vault` with the service principal (default) or the pod identity. */
  spec(vault: string, identity: 'servicePrincipal' | 'podIdentity', rest: Record<string, unknown>): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * A control plane, an emulator with one vault per name (so rows on different vaults run side by side:
 * faults, pauses and circuit breakers are per vault) that the service principal and the pod identity
 * may read, the CRDs, the namespace `faults` and a controller watching it.
 */
export async function startFaultWorld(vaults: readonly string[]): Promise<FaultWorld> {
  const controlPlane = await startControlPlane({ log: (line) => console.log(`[control-plane] ${line}`) });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  await installCrds(kc);
  const stateDir = await mkdtemp(join(tmpdir(), 'kvsync-faults-emu-'));
  const roles = (principal: string): Record<string, string>[] => vaults.flatMap((vault) => ['Key Vault Secrets User', 'Key Vault Certificate User'].map((role) => ({ principal, role, vault })));
  const emu = await startEmulator({
    stateDir,
    log: () => undefined,
    configDocument: {
      vaults: vaults.map((name) => ({ name })),
      servicePrincipals: [{ name: SP_NAME, secrets: [SP_SECRET] }],
      managedIdentities: [{ name: POD_IDENTITY }],
      roleAssignments: [...roles(SP_NAME), ...roles(POD_IDENTITY)],
    },
  });
  const clientIdOf = (name: string): string => [...emu.config.servicePrincipals, ...emu.config.managedIdentities].find((p) => p.name === name)?.clientId ?? '';
  const ns = 'faults';
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespace({ body: { metadata: { name: `${ns}-op` } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'kv-creds' }, stringData: { clientid: clientIdOf(SP_NAME), clientsecret: SP_SECRET } } });
  await kc.makeApiClient(k8s.CustomObjectsApi).createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'keyvaultidentities',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'KeyVaultIdentity', metadata: { name: POD_IDENTITY }, spec: { type: 'podIdentity', clientID: clientIdOf(POD_IDENTITY), tenantID: emu.endpoints.tenantID, allowedNamespaces: { names: [ns] }, allowedVaults: ['*'] } },
  });
  const azure = await loadAzureEnvironment({ endpointsFile: join(stateDir, 'endpoints.json'), env: {} });
  const log = pino({ level: process.env.KVSYNC_TEST_LOG ?? 'silent' }, { write: (line: string) => console.log(line.trim()) });
  const controller = await startController({ kubeConfig: kc, azure, log, namespace: `${ns}-op`, watchNamespace: ns, healthAddr: '127.0.0.1:0', retryPeriodMs: 500, concurrency: 16, azureRequestTimeoutMs: AZURE_REQUEST_TIMEOUT_MS });
  const clients = new Map<string, Clients>();
  return {
    controlPlane,
    kc,
    emu,
    kv(vault) {
      let c = clients.get(vault);
      if (c === undefined) {
        c = clientsFor(emu, undefined, vault, new PatientCredential(credentialFor(emu)));
        clients.set(vault, c);
      }
      return c;
    },
    ns,
    controller: () => controller,
    spec(vault, identity, rest) {
      return {
        vault: { name: vault, url: emu.endpoints.vaults[vault], tenantID: emu.endpoints.tenantID },
        identity: identity === 'servicePrincipal' ? { servicePrincipal: { secretRef: { name: 'kv-creds' } } } : { podIdentity: { identityRef: POD_IDENTITY } },
        ...rest,
      };
    },
    async stop() {
      await controller.stop();
      await emu.stop();
      await controlPlane.stop();
    },
  };
}

/** Posts one fault per operation given (all reads by default) and checks each was taken. */
export async function injectFault(emu: RunningEmulator, fault: Record<string, unknown>, operations: readonly string[] = READ_OPERATIONS): Promise<void> {
  for (const operation of operations) {
    const res = await admin(emu, 'POST', '/faults', { ...fault, operation });
    if (res.status !== 201) throw new Error(`fault ${JSON.stringify(fault)} refused: ${res.status} ${res.text}`);
  }
}

/** Clears the faults of one vault or of one operation (rows side by side keep theirs). */
export async function clearFaults(emu: RunningEmulator, of: { vault: string } | { operation: string }): Promise<void> {
  const res = await admin(emu, 'DELETE', `/faults?${new URLSearchParams(of).toString()}`);
  if (res.status !== 204) throw new Error(`clearing faults failed: ${res.status}`);
}

export async function getSync(kc: k8s.KubeConfig, ns: string, name: string): Promise<KeyVaultSyncObject> {
  return syncApi(kc).get(ns, name);
}

export async function deleteSync(kc: k8s.KubeConfig, ns: string, name: string): Promise<void> {
  await kc.makeApiClient(k8s.CustomObjectsApi).deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: ns, name });
}

/** What a user is shown about a failing KeyVaultSync. */
export interface Shown {
  /** Where it was shown first: the Synced condition or a Warning event. */
  via: 'condition' | 'event';
  reason: string;
  message: string;
  ready: ConditionView | undefined;
}

/**
 * Waits until the KeyVaultSync shows one of `reasons`, in its Synced condition or in a Warning event
 * about it that is newer than `since`.
 */
export async function waitShown(kc: k8s.KubeConfig, ns: string, name: string, reasons: readonly string[], since: number, timeoutMs = 90_000): Promise<Shown> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return pollUntil(
    async () => {
      const obj = await getSync(kc, ns, name);
      const synced = conditionOf(obj, 'Synced');
      if (synced !== undefined && synced.status === 'False' && reasons.includes(synced.reason)) return { via: 'condition' as const, reason: synced.reason, message: synced.message, ready: conditionOf(obj, 'Ready') };
      const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.kind=KeyVaultSync,involvedObject.name=${name},type=Warning` });
      const event = events.items.find((e) => reasons.includes(e.reason ?? '') && (e.lastTimestamp ?? e.eventTime ?? new Date(0)).valueOf() >= since - 1000);
      if (event !== undefined) return { via: 'event' as const, reason: event.reason ?? '', message: event.message ?? '', ready: conditionOf(obj, 'Ready') };
      // Not yet: what it shows instead, so that a timeout says where the row stood.
      const warnings = events.items.map((e) => e.reason ?? '?').join(', ') || 'none';
      throw new Error(`Synced is ${synced?.status ?? 'unset'} ${synced?.reason ?? ''}; Warning events: ${warnings}`);
    },
    { timeoutMs, intervalMs: 250, description: `${ns}/${name} showing ${reasons.join(' or ')}` },
  );
}

/** Every condition message and Warning event message of the KeyVaultSync, and the controller's /metrics. */
export async function userVisibleText(kc: k8s.KubeConfig, ns: string, name: string, controller: RunningController): Promise<string> {
  const obj = await getSync(kc, ns, name);
  const events = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.kind=KeyVaultSync,involvedObject.name=${name}` });
  const conditions = (obj.status?.conditions as ConditionView[] | undefined) ?? [];
  return [...conditions.map((c) => c.message), ...events.items.map((e) => e.message ?? ''), (await controller.metrics.scrape()).body].join('\n');
}

/** `kvsync_syncs_total{result="<result>"}` of the controller. */
export async function syncsWithResult(controller: RunningController, result: string): Promise<number> {
  const body = (await controller.metrics.scrape()).body;
  const m = new RegExp(`^kvsync_syncs_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(body);
  return m === null ? 0 : Number(m[1]);
}

/** `kvsync_last_sync_timestamp_seconds` of one KeyVaultSync (quiet refreshes move it, not its status). */
export async function lastSyncSeconds(controller: RunningController, ns: string, name: string): Promise<number | undefined> {
  const line = (await controller.metrics.scrape()).body.split('\n').find((l) => l.startsWith(`kvsync_last_sync_timestamp_seconds{namespace="${ns}",keyvaultsync="${name}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Waits until Secret `name` has `want` as its data (the keys given); returns the time it took. */
export async function waitForData(kc: k8s.KubeConfig, ns: string, name: string, want: Record<string, string>, timeoutMs: number): Promise<number> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const started = Date.now();
  await pollUntil(
    async () => {
      const s = await core.readNamespacedSecret({ namespace: ns, name });
      const data = s.data ?? {};
      return Object.entries(want).every(([k, v]) => Buffer.from(data[k] ?? '', 'base64').toString('utf8') === v) ? true : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `Secret ${ns}/${name} holding ${Object.keys(want).join(', ')} of the new version` },
  );
  return Date.now() - started;
}

/** Prints a convergence figure the way every row does, so a run's log can be grepped for them. */
export function reportConvergence(row: string, ms: number): void {
  console.log(`[fault-matrix] ${row}: converged ${(ms / 1000).toFixed(1)} s after the fault ended`);
}

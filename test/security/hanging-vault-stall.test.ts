/**
 * Threat: a tenant points KeyVaultSyncs at a "vault" that accepts connections and never answers (or
 * answers a byte a second), to take every worker of the controller, so that no KeyVaultSync of any
 * tenant syncs again while the lease keeps renewing and no other replica takes over.
 *
 * Defences proven here, on the real apiserver and the emulator, with the controller in-process:
 * - the bulkhead per vault: while six KeyVaultSyncs hang on the vault, a new KeyVaultSync of another
 *   vault is Ready before any of the six has even timed out;
 * - the request deadline: the six end with VaultTimeout (or, once five timeouts opened the vault's
 *   breaker, VaultUnavailable naming VaultTimeout), and a body trickled a byte a second is cut off;
 * - the lease keeps renewing, and an admission through the webhook answers within 1 s meanwhile.
 *
 * The stalling vaults are local TLS listeners with a certificate from a CA the controller is told to
 * trust (next to the emulator's), listed as vaults of the endpoints file (so kvsync may contact them)
 * and reached as `<name>.vault.azure.net:<port>` through its resolve map. `npx vitest run --project integration test/security/hanging-vault-stall.test.ts`
 * prints the measured figures (docs/security.md "Bounded requests").
 */
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../src/api/install.ts';
import { freePort } from '../../src/dev/ports.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import { createEmulatorTls } from '../../src/emulator/tls.ts';
import { loadAzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, createCredentialsSecret, startWorld, syncApi, syncSpec, type ConditionView, type TestWorld } from '../integration/controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';
import { startStallingServer, type StallingServer } from '../support/stalling-servers.ts';

/** Deadline of one Azure request in this test: long enough that a healthy sync never meets it. */
const REQUEST_TIMEOUT_MS = 15_000;
const HANGING = 6;
const WAIT = { timeoutMs: 90_000, intervalMs: 200 };

/** Milliseconds `step` took. */
async function timed(step: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await step();
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** A GET of the health server's path, resolved with the status code. */
function healthGet(address: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A timeout reason: VaultTimeout, or the breaker those timeouts opened (naming the last one). */
function isTimeoutCondition(c: ConditionView | undefined): boolean {
  return c?.status === 'False' && (c.reason === 'VaultTimeout' || (c.reason === 'VaultUnavailable' && c.message.includes('last: VaultTimeout')));
}

describe('threat: a vault that accepts connections and never answers stalls the controller', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const syncs = syncApi(kc);
  const suffix = Math.random().toString(36).slice(2, 8);
  const namespace = `sec-hang-${suffix}`;
  const configurationName = `kvsync-webhook-hang-${suffix}`;
  let namespaceCreated = false;
  let opNs = '';
  let world: TestWorld | undefined;
  let silent: StallingServer | undefined;
  let trickle: StallingServer | undefined;
  let controller: RunningController | undefined;
  const figures: Record<string, string> = {};

  /** A KeyVaultSync of a stalling vault; each reads its own object, so no two share a read. */
  const stalledSpec = (host: string, port: number, name: string): Record<string, unknown> => ({
    vault: { url: `https://${host}.vault.azure.net:${port}`, tenantID: world?.emu.endpoints.tenantID },
    identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } },
    objects: [{ name: `${name}-password`, type: 'secret' }],
    secretObjects: [{ secretName: `${name}-db`, type: 'Opaque', data: [{ objectName: `${name}-password` }] }],
  });
  const healthySpec = (w: TestWorld, secretName: string): Record<string, unknown> =>
    syncSpec(w, { objects: [{ name: 'db-password', type: 'secret', alias: 'password' }], secretObjects: [{ secretName, type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] }] });
  const ready = async (name: string): Promise<true | undefined> => (conditionOf(await syncs.get(namespace, name), 'Ready')?.status === 'True' ? true : undefined);
  const lease = async (): Promise<k8s.V1Lease> => coordination.readNamespacedLease({ name: 'kvsync-controller', namespace: opNs });
  const pod = (name: string): k8s.V1Pod => ({ metadata: { name }, spec: { containers: [{ name: 'app', image: 'app', env: [{ name: 'DB', value: 'kvsync:healthy/password' }] }] } });
  /** One admission round trip through the apiserver (dry run), and whether the webhook mutated the pod. */
  const admit = async (name: string): Promise<{ ms: number; mutated: boolean }> => {
    let mutated = false;
    const ms = await timed(async () => {
      const out = await core.createNamespacedPod({ namespace, body: pod(name), dryRun: 'All' });
      mutated = out.spec?.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name === 'healthy-db';
    });
    return { ms, mutated };
  };

  beforeAll(async () => {
    await installCrds(kc);
    world = await startWorld();
    const tls = await createEmulatorTls(new Date());
    silent = await startStallingServer({ mode: 'silent', tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem } });
    trickle = await startStallingServer({ mode: 'trickle-body', intervalMs: 1000, tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem } });
    // The controller trusts the emulator's CA and the stalling vaults' CA, and finds both vault hosts.
    const endpoints = JSON.parse(await readFile(world.endpointsFile, 'utf8')) as { caFile: string; resolve: Record<string, string>; vaults: Record<string, string> };
    const caFile = join(dirname(world.endpointsFile), 'ca-with-stalling.pem');
    await writeFile(caFile, `${await readFile(endpoints.caFile, 'utf8')}\n${tls.caPem}`);
    const endpointsFile = join(dirname(world.endpointsFile), 'endpoints-with-stalling.json');
    // Listed as the emulator lists its own vaults: hosts kvsync may contact (on their ports).
    const vaults = { ...endpoints.vaults, hangkv: `https://hangkv.vault.azure.net:${silent.port}`, tricklekv: `https://tricklekv.vault.azure.net:${trickle.port}` };
    await writeFile(endpointsFile, JSON.stringify({ ...endpoints, caFile, vaults, resolve: { ...endpoints.resolve, 'hangkv.vault.azure.net': '127.0.0.1', 'tricklekv.vault.azure.net': '127.0.0.1' } }));

    await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'kvsync.dev/test': 'true', 'kvsync.dev/inject': 'enabled' } } } });
    namespaceCreated = true;
    opNs = await createTestNamespace(kc, 'sec-hang-op');
    await createCredentialsSecret(kc, namespace, world);
    const port = await freePort();
    controller = await startController({
      kubeConfig: kc,
      azure: await loadAzureEnvironment({ endpointsFile, env: {} }),
      namespace: opNs,
      watchNamespace: namespace,
      concurrency: 4,
      azureRequestTimeoutMs: REQUEST_TIMEOUT_MS,
      retryPeriodMs: 500,
      healthAddr: '127.0.0.1:0',
      log: pino({ level: process.env.KVSYNC_TEST_LOG ?? 'silent' }, { write: (line: string) => console.log(line.trim()) }),
      webhook: {
        addr: `127.0.0.1:${port}`,
        endpoint: { url: `https://127.0.0.1:${port}/mutate-pods` },
        configurationName,
        extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespace] }],
      },
    });
    await pollUntil(() => (controller?.isLeader() === true ? true : undefined), { ...WAIT, description: 'the controller to lead' });
    await pollUntil(() => core.readNamespacedServiceAccount({ namespace, name: 'default' }).then(() => true), { ...WAIT, description: 'ServiceAccount default' });
  });

  afterAll(async () => {
    if (Object.keys(figures).length > 0) console.log(`figures: ${JSON.stringify(figures)}`);
    await controller?.stop();
    await admission.deleteMutatingWebhookConfiguration({ name: configurationName }).catch(() => undefined);
    await silent?.stop();
    await trickle?.stop();
    await world?.emu.stop();
    if (namespaceCreated) await deleteTestNamespace(kc, namespace);
    if (opNs !== '') await deleteTestNamespace(kc, opNs);
  });

  it(`With ${HANGING} KeyVaultSyncs pointed at a vault that accepts connections and never answers, a new KeyVaultSync elsewhere is Ready within its normal time, and a webhook admission answers within 1 s`, async () => {
    if (world === undefined || silent === undefined || controller?.healthAddress === undefined) throw new Error('set-up failed');
    // Its normal time: the same kind of KeyVaultSync, before anything hangs.
    figures.baselineReadyMs = (await timed(async () => {
      await syncs.create(namespace, 'baseline', healthySpec(world as TestWorld, 'baseline-db'));
      await pollUntil(() => ready('baseline'), { ...WAIT, description: 'baseline Ready' });
    })).toFixed(0);

    const hanging = Array.from({ length: HANGING }, (_, i) => `hang-${i + 1}`);
    for (const name of hanging) await syncs.create(namespace, name, stalledSpec('hangkv', silent.port, name));
    // The vault holds as many workers as it may (half of four) before the new KeyVaultSync arrives.
    await pollUntil(() => (silent !== undefined && silent.open >= 2 ? true : undefined), { ...WAIT, description: 'two requests hanging on the vault' });

    figures.healthyReadyWhileHangingMs = (await timed(async () => {
      await syncs.create(namespace, 'healthy', healthySpec(world as TestWorld, 'healthy-db'));
      await pollUntil(() => ready('healthy'), { ...WAIT, description: 'healthy Ready' });
    })).toFixed(0);
    // Ready before the vault's requests ended: it never waited for a hanging KeyVaultSync's worker.
    const six = await Promise.all(hanging.map((n) => syncs.get(namespace, n)));
    expect(six.map((o) => conditionOf(o, 'Ready'))).toEqual(hanging.map(() => undefined));
    expect(silent.open).toBeGreaterThanOrEqual(1);

    // Admissions through the apiserver while the vault hangs: the webhook never waits for a worker.
    await pollUntil(async () => ((await admit('probe')).mutated ? true : undefined), { ...WAIT, description: 'the webhook to be active' });
    const admissions: { ms: number; mutated: boolean }[] = [];
    for (let i = 0; i < 5; i++) admissions.push(await admit(`web-${i}`));
    const health: number[] = [];
    for (let i = 0; i < 5; i++) health.push(await timed(async () => expect(await healthGet(controller?.healthAddress ?? '', '/healthz')).toBe(200)));
    expect(silent.open).toBeGreaterThanOrEqual(1);
    figures.admissionMedianMs = median(admissions.map((a) => a.ms)).toFixed(0);
    figures.admissionMaxMs = Math.max(...admissions.map((a) => a.ms)).toFixed(0);
    figures.healthzMaxMs = Math.max(...health).toFixed(0);
    expect(admissions.every((a) => a.mutated)).toBe(true);
    expect(median(admissions.map((a) => a.ms))).toBeLessThan(1000);
  }, 180_000);

  it(`ends the ${HANGING} hanging syncs with a timeout reason while the lease keeps renewing`, async () => {
    const before = await lease();
    const names = Array.from({ length: HANGING }, (_, i) => `hang-${i + 1}`);
    const conditions = await pollUntil(
      async () => {
        const all = (await Promise.all(names.map((n) => syncs.get(namespace, n)))).map((o) => conditionOf(o, 'Ready'));
        return all.every(isTimeoutCondition) ? all : undefined;
      },
      { ...WAIT, description: 'every hanging KeyVaultSync to report a timeout' },
    );
    expect(conditions).toHaveLength(HANGING);
    // Each reported its own timeout on the way (one Warning event per distinct failure).
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: 'reason=VaultTimeout' });
    expect(new Set(events.items.map((e) => e.involvedObject.name)).size).toBeGreaterThanOrEqual(1);
    const after = await lease();
    expect(after.spec?.holderIdentity).toBe(controller?.identity);
    expect(after.spec?.leaseTransitions ?? 0).toBe(before.spec?.leaseTransitions ?? 0);
    expect(new Date(after.spec?.renewTime ?? 0).getTime()).toBeGreaterThan(new Date(before.spec?.renewTime ?? 0).getTime());
    // The KeyVaultSyncs of the other vault stayed in sync.
    expect(await ready('healthy')).toBe(true);
    expect(await ready('baseline')).toBe(true);
  }, 180_000);

  it('cuts off a vault that answers a byte a second (a deadline on the whole response, not an idle timeout)', async () => {
    if (trickle === undefined) throw new Error('set-up failed');
    await syncs.create(namespace, 'trickled', stalledSpec('tricklekv', trickle.port, 'trickled'));
    const condition = await pollUntil(async () => {
      const c = conditionOf(await syncs.get(namespace, 'trickled'), 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, { ...WAIT, description: 'the trickled KeyVaultSync to fail' });
    expect(condition).toMatchObject({ reason: 'VaultTimeout', message: expect.stringContaining('vault "tricklekv" did not answer within 15 s') as string });
    // Bytes kept coming until kvsync closed the connection: an idle timeout would never have fired.
    expect(trickle.trickled).toBeGreaterThan(1);
    await pollUntil(() => (trickle !== undefined && trickle.closedByClient >= 1 ? true : undefined), { ...WAIT, description: 'kvsync to close the trickled connection' });
  }, 180_000);
});

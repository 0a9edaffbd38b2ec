/**
 * One chaos run: a real control plane, the emulator, two controller replicas and some mount sidecars
 * as processes; KeyVaultSyncs over shared secrets and certificates; rotations every few seconds and the
 * seeded fault schedule for the fault phase; the independent checker the whole time; then every fault
 * ended and the time until everything holds what Key Vault holds measured.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startEmulatorProcess, type BenchEmulator } from '../../bench/lib/emulator.ts';
import { BenchKube, type KvsObject } from '../../bench/lib/kube.ts';
import { installCrds } from '../../src/api/install.ts';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { LEASE_NAME } from '../../src/controller/controller.ts';
import { KubeLeaseClient } from '../../src/controller/leader-election.ts';
import { startControlPlane, type RunningControlPlane } from '../../src/dev/control-plane.ts';
import { loadEmulatorClientOptions } from '../../src/keyvault/endpoints-file.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { InvariantLedger, memoryGrowth, VaultHistory, type MemoryVerdict, type Target, type Violation } from './checker.ts';
import { FaultRunner, type FaultRecord } from './faults.ts';
import { ControllerFleet, MountFleet, type Instance, type MountSpec } from './fleet.ts';
import { readMountGeneration, secretData, SecretWatcher, type SecretSeen } from './observers.ts';
import { planObjects, scheduleFaults, TOKEN_LIFETIME_SECONDS, type ChaosPlan, type FaultKind, type MountPlan, type SyncPlan } from './plan.ts';
import { SeededRandom } from './random.ts';
import { VaultWriter } from './vault-writer.ts';

export interface ChaosOptions {
  /** Length of the fault phase (rotations and faults). */
  durationMs: number;
  seed: number;
  kvs: number;
  mounts: number;
  refreshSeconds: number;
  rotateEveryMs: number;
  /** The fault kinds to draw; default every kind. */
  kinds?: readonly FaultKind[];
  /**
   * Proves the checker end to end: this far into the fault phase the run itself writes a value Key Vault
   * never held into one managed Secret, as a torn or foreign write would; the checker must report it.
   */
  plantViolationAtMs?: number;
  cli: string;
  progress: (line: string) => void;
}

export interface ConvergenceResult {
  /** When every fault had ended: the start of the measurement. */
  faultsEndedAt: string;
  /** Two refresh intervals. */
  targetMs: number;
  /** Until the last Secret, file set and Ready condition matched Key Vault; undefined when it never did. */
  allMs: number | undefined;
  secretsMs: number | undefined;
  mountsMs: number | undefined;
  readyMs: number | undefined;
  p50Ms: number | undefined;
  /** The five Secrets or file sets that took longest. */
  slowest: { target: string; ms: number }[];
  notConverged: string[];
}

export interface ChaosResults {
  seed: number;
  parameters: { durationMs: number; kvs: number; mounts: number; refreshSeconds: number; rotateEveryMs: number; secrets: number; certificates: number };
  faults: { kind: FaultKind; injected: number; skipped: number }[];
  faultLog: FaultRecord[];
  rotations: { secrets: number; certificates: number; failed: number };
  observations: { secretStates: number; mountGenerations: number; watchRelists: number };
  violations: Violation[];
  convergence: ConvergenceResult;
  memory: ({ instance: string } & (MemoryVerdict | { samples: number; note: string }))[];
  processes: { name: string; outcome: 'running' | 'killed on purpose' | 'died' }[];
  passed: boolean;
}

const NAMESPACE = 'chaos';
const OPERATOR_NAMESPACE = 'kvsync-system';
const VAULT = 'chaoskv';
const CONTROLLER_SP = 'chaos-controller';
const POD_IDENTITY = 'chaos-pod';
const CREDENTIALS = 'kv-creds';
const ROLES = ['Key Vault Secrets User', 'Key Vault Certificate User'];

function emulatorConfig(plan: Omit<ChaosPlan, 'faults'>, history: VaultHistory, sp: { clientId: string; secret: string }): Record<string, unknown> {
  return {
    vaults: [{ name: VAULT, secrets: plan.secrets.map((name) => ({ name, value: history.versions(name)[0] ?? '' })) }],
    servicePrincipals: [{ name: CONTROLLER_SP, clientId: sp.clientId, secrets: [sp.secret] }],
    managedIdentities: [{ name: POD_IDENTITY }],
    roleAssignments: [CONTROLLER_SP, POD_IDENTITY].flatMap((principal) => ROLES.map((role) => ({ principal, role, vault: VAULT }))),
  };
}

function syncSpec(s: SyncPlan, vault: { name: string; url: string; tenantID: string }, refresh: string): Record<string, unknown> {
  const secretObject =
    s.kind === 'tls'
      ? { secretName: s.secretName, type: 'kubernetes.io/tls', data: [{ objectName: s.objects[0] }] }
      : { secretName: s.secretName, type: 'Opaque', data: s.objects.map((o) => ({ objectName: o, key: o })) };
  return {
    vault,
    identity: { servicePrincipal: { secretRef: { name: CREDENTIALS } } },
    objects: s.objects.map((name) => ({ name, type: s.kind === 'tls' ? 'certificate' : 'secret' })),
    secretObjects: [secretObject],
    refreshInterval: refresh,
  };
}

function secretTarget(s: SyncPlan): Target {
  const object = s.objects[0] ?? '';
  return s.kind === 'tls'
    ? { id: `secret ${NAMESPACE}/${s.secretName}`, entries: [{ kind: 'tls-pair', certKey: 'tls.crt', keyKey: 'tls.key', object }], optionalKeys: ['ca.crt'] }
    : { id: `secret ${NAMESPACE}/${s.secretName}`, entries: s.objects.map((o) => ({ kind: 'value' as const, key: o, object: o })) };
}

const percentile50 = (values: number[]): number | undefined => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

function isReady(o: KvsObject): boolean {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return c?.status === 'True' && c.observedGeneration === o.metadata?.generation;
}

/** Overwrites one key of a managed Secret with a value the vault never held (the controller repairs it). */
function plantViolation(kube: BenchKube, sync: SyncPlan | undefined, atMs: number, log: (line: string) => void): NodeJS.Timeout | undefined {
  const key = sync?.objects[0];
  if (sync === undefined || key === undefined) return undefined;
  return setTimeout(() => {
    log(`planting a foreign value in Secret ${sync.secretName}`);
    kube.core
      .patchNamespacedSecret({ name: sync.secretName, namespace: NAMESPACE, body: { data: { [key]: Buffer.from('planted, never in the vault').toString('base64') } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
      .catch((err: unknown) => log(`planting failed: ${err instanceof Error ? err.message : String(err)}`));
  }, atMs);
}

/** A mount sidecar of the run: its directory, the KeyVaultSync it renders, and what the checker expects there. */
export interface PreparedMount extends MountSpec {
  target: Target;
}

/**
 * Creates each mount's directory and pairs it with its own target, in the plan's order whatever order
 * the directories are created in (a target judged against another mount's files reports objects missing
 * that were never that mount's).
 */
export async function prepareMounts(mounts: readonly MountPlan[], root: string, specOf: (m: MountPlan) => Record<string, unknown>): Promise<PreparedMount[]> {
  return Promise.all(
    mounts.map(async (m) => {
      const dir = join(root, m.name);
      await mkdir(dir, { recursive: true });
      const target: Target = { id: `mount ${m.name}`, entries: [...m.secrets.map((s) => ({ kind: 'value' as const, key: s, object: s })), { kind: 'pem-bundle', key: m.certificate, object: m.certificate }] };
      return { name: m.name, dir, spec: specOf(m), target };
    }),
  );
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResults> {
  const rng = new SeededRandom(o.seed);
  const plan = planObjects(rng, o.kvs, o.mounts);
  const schedule = scheduleFaults(rng, o.durationMs, o.mounts, o.kinds);
  // Rotations draw from their own sequence, so the plan and schedule do not depend on how many ran.
  const rotationRng = new SeededRandom(o.seed ^ 0x5eed);
  const history = new VaultHistory();
  for (const name of plan.secrets) history.record(name, `chaos-${name}-0-${rotationRng.hex(8)}`);
  const ledger = new InvariantLedger(history);
  const workDir = await mkdtemp(join(tmpdir(), 'kvsync-chaos-'));
  const stops: (() => Promise<void> | void)[] = [];
  const log = o.progress;
  try {
    log(`seed ${o.seed}: ${plan.syncs.length} KeyVaultSyncs over ${plan.secrets.length} secrets and ${plan.certificates.length} certificates, ${plan.mounts.length} mounts, ${schedule.length} faults in ${(o.durationMs / 1000).toFixed(0)} s; work dir ${workDir}`);
    const cp: RunningControlPlane = await startControlPlane({ log: (l) => log(`control plane: ${l}`) });
    stops.push(() => cp.stop());
    const kube = new BenchKube(cp.kubeconfigPath);
    await installCrds(kube.kc);
    await kube.createNamespace(OPERATOR_NAMESPACE);
    await kube.createNamespace(NAMESPACE);

    const sp = { clientId: randomUUID(), secret: randomBytes(18).toString('base64url') };
    const emulator: BenchEmulator = await startEmulatorProcess({ config: emulatorConfig(plan, history, sp), dir: workDir, leash: cp.binaries.paths.leash, cli: o.cli });
    stops.push(() => emulator.stop());
    // Before any client holds a token: every token of the run is short-lived, so outages outlast them.
    await emulator.admin.setTokenLifetime(TOKEN_LIFETIME_SECONDS);
    const clientOptions = await loadEmulatorClientOptions(emulator.endpointsFile);
    const writer = new VaultWriter(clientOptions, VAULT, history, rotationRng);
    for (const name of plan.certificates) await writer.rotateCertificate(name);
    const vault = { name: VAULT, url: emulator.endpoints.vaults[VAULT] ?? '', tenantID: emulator.endpoints.tenantID };

    // Unmanaged Secrets beside the managed ones: the credentials the controller reads, plain Secrets,
    // one that carries kvsync's labels and one named like a managed Secret's neighbour.
    await kube.createCredentials(NAMESPACE, { clientId: sp.clientId, clientSecret: sp.secret });
    const planted: { name: string; labels: Record<string, string> }[] = [
      { name: 'unmanaged-plain', labels: {} },
      { name: 'unmanaged-labelled', labels: { 'app.kubernetes.io/managed-by': 'kvsync' } },
      { name: 'opaque-unmanaged', labels: {} },
    ];
    for (const p of planted) {
      await kube.core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: p.name, labels: p.labels }, type: 'Opaque', stringData: { planted: randomBytes(12).toString('hex') } } });
    }
    const unmanaged = new Map<string, string>();
    for (const name of [CREDENTIALS, ...planted.map((p) => p.name)]) {
      const s = await kube.core.readNamespacedSecret({ name, namespace: NAMESPACE });
      unmanaged.set(name, s.metadata?.resourceVersion ?? '');
    }

    // The checker's watch starts before any KeyVaultSync exists, so it sees every state.
    const targets = new Map(plan.syncs.map((s) => [s.secretName, secretTarget(s)]));
    let secretStates = 0;
    const watcher = new SecretWatcher(kube.kc, NAMESPACE, (seen: SecretSeen) => {
      const target = targets.get(seen.name);
      if (target !== undefined) {
        secretStates += 1;
        if (seen.secret === undefined) ledger.report('managed-deleted', target.id, `${target.id} was deleted (${seen.event})`, seen.atMs);
        else ledger.observe(target, secretData(seen.secret), seen.atMs);
        return;
      }
      const rv = unmanaged.get(seen.name);
      if (rv !== undefined && seen.secret?.metadata?.resourceVersion !== rv) {
        ledger.report('unmanaged-touched', `secret ${NAMESPACE}/${seen.name}`, `${seen.event}: resourceVersion ${rv} → ${seen.secret?.metadata?.resourceVersion ?? 'deleted'}`, seen.atMs);
      }
    });
    await watcher.start();
    stops.push(() => watcher.stop());

    const controllers = new ControllerFleet({
      leash: cp.binaries.paths.leash,
      cli: o.cli,
      kubeconfig: cp.kubeconfigPath,
      endpointsFile: emulator.endpointsFile,
      operatorNamespace: OPERATOR_NAMESPACE,
      watchNamespace: NAMESPACE,
      logDir: workDir,
    });
    stops.push(() => controllers.stop());
    await Promise.all([controllers.start(0), controllers.start(1)]);

    const mountSpecs = await prepareMounts(plan.mounts, join(workDir, 'mounts'), (m) => ({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'KeyVaultSync',
      metadata: { name: m.name, namespace: NAMESPACE },
      spec: {
        vault: { name: VAULT, tenantID: emulator.endpoints.tenantID },
        identity: { podIdentity: { identityRef: POD_IDENTITY } },
        objects: [...m.secrets.map((s) => ({ name: s, type: 'secret' })), { name: m.certificate, type: 'certificate' }],
        refreshInterval: `${o.refreshSeconds}s`,
      },
    }));
    const mountTargets = mountSpecs.map((m) => m.target);
    const mounts = new MountFleet({ leash: cp.binaries.paths.leash, cli: o.cli, endpointsFile: emulator.endpointsFile, logDir: workDir }, mountSpecs);
    stops.push(() => mounts.stop());
    for (let i = 0; i < mountSpecs.length; i++) mounts.start(i);

    log(`creating ${plan.syncs.length} KeyVaultSyncs`);
    const tracker = await kube.trackReady(NAMESPACE);
    stops.push(() => tracker.stop());
    await kube.createSyncs(NAMESPACE, plan.syncs.map((s) => ({ name: s.name, spec: syncSpec(s, vault, `${o.refreshSeconds}s`) })), 4);
    await tracker.waitAll(plan.syncs.map((s) => s.name), 300_000, (ready) => log(`${ready}/${plan.syncs.length} Ready`));
    log('all Ready; the fault phase starts');

    // The mounted files, read all the time.
    let mountGenerations = 0;
    const lastGeneration = new Map<string, string>();
    const readMounts = (): void => {
      for (const { dir, name, target } of mountSpecs) {
        try {
          const gen = readMountGeneration(dir);
          if (gen === undefined) continue;
          if (lastGeneration.get(name) === gen.generation) continue;
          lastGeneration.set(name, gen.generation);
          mountGenerations += 1;
          ledger.observe(target, gen.files, Date.now());
        } catch (err) {
          ledger.report('incomplete-render', target.id, `${target.id}: unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`, Date.now());
        }
      }
    };
    const mountTimer = setInterval(readMounts, 250);
    stops.push(() => clearInterval(mountTimer));

    // Processes: alive unless the run killed them.
    const everyProcess = (): Instance[] => [
      ...cp.processes.map((p) => ({ name: p.name, process: p, killedOnPurpose: false, startedAtMs: 0 })),
      { name: 'kvsync-emulator', process: emulator.process, killedOnPurpose: false, startedAtMs: 0 },
      ...controllers.all,
      ...mounts.all,
    ];
    const checkProcesses = (): void => {
      for (const p of everyProcess()) {
        if (!p.process.running && !p.killedOnPurpose) ledger.report('process-died', p.name, `${p.name} exited without being killed by the run; last log line: ${p.process.logTail(1).slice(0, 200)}`, Date.now());
      }
    };
    const lease = new KubeLeaseClient(kube.kc, OPERATOR_NAMESPACE, LEASE_NAME);
    const leaseHolder = async (): Promise<string | undefined> => (await lease.get())?.holderIdentity;
    const healthTimer = setInterval(() => {
      checkProcesses();
      leaseHolder().then((holder) => controllers.sampleLeaderMemory(holder), () => undefined);
    }, 2000);
    stops.push(() => clearInterval(healthTimer));

    // Rotations: one object at a time, never the same object twice at once.
    const rotations = { secrets: 0, certificates: 0, failed: 0 };
    const inFlight = new Set<string>();
    const rotationsDone = new Set<Promise<void>>();
    const rotate = (): void => {
      const pool = [...plan.secrets, ...plan.certificates].filter((n) => !inFlight.has(n));
      if (pool.length === 0) return;
      const name = rotationRng.pick(pool);
      const isCert = plan.certificates.includes(name);
      inFlight.add(name);
      const p = (isCert ? writer.rotateCertificate(name) : writer.rotateSecret(name))
        .then(() => {
          if (isCert) rotations.certificates += 1;
          else rotations.secrets += 1;
        })
        .catch(() => {
          rotations.failed += 1;
        })
        .finally(() => {
          inFlight.delete(name);
          rotationsDone.delete(p);
        });
      rotationsDone.add(p);
    };
    const rotationTimer = setInterval(rotate, o.rotateEveryMs);

    const faults = new FaultRunner(
      {
        vault: VAULT,
        admin: emulator.admin,
        controllers,
        mounts,
        controlPlane: cp,
        writer,
        objects: {
          secrets: plan.secrets,
          certificates: plan.certificates,
          claim: (name) => (inFlight.has(name) ? false : (inFlight.add(name), true)),
          release: (name) => inFlight.delete(name),
        },
        leaseHolder,
        kinds: o.kinds,
      },
      log,
    );
    faults.start(schedule);
    const plantTimer = o.plantViolationAtMs === undefined ? undefined : plantViolation(kube, plan.syncs.find((s) => s.kind === 'opaque'), o.plantViolationAtMs, log);
    await new Promise((r) => setTimeout(r, o.durationMs));
    clearInterval(rotationTimer);
    log('fault phase over: ending every fault');
    clearTimeout(plantTimer);
    await faults.endAll();
    // Every announced certificate version is recorded by now: judge whatever waited for one.
    ledger.flush();
    const stoppedAt = Date.now();
    // Rotations still in flight finish now that the vault answers; convergence is to what they left.
    await Promise.all([...rotationsDone]);

    // What Key Vault holds now is what everything must converge to.
    const truth = new Map<string, number>();
    await pollUntil(
      async () => {
        for (const name of plan.secrets) truth.set(name, history.indexOf(name, (await writer.currentSecret(name)) ?? ''));
        for (const name of plan.certificates) truth.set(name, history.indexOf(name, (await writer.currentCertificate(name)) ?? ''));
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 1000, description: 'the vault\'s current versions' },
    );
    const convergedAt = new Map<string, number>();
    const allTargets = [...targets.values(), ...mountTargets];
    const matches = (t: Target): boolean => {
      const latest = ledger.latest(t.id);
      return latest !== undefined && latest.complete && t.entries.every((e) => latest.versions.get(e.object) === truth.get(e.object));
    };
    let readyAt: number | undefined;
    const targetMs = 2 * o.refreshSeconds * 1000;
    const waitMs = Math.max(6 * o.refreshSeconds * 1000, 120_000);
    await pollUntil(
      async () => {
        readMounts();
        for (const t of allTargets) if (!convergedAt.has(t.id) && matches(t)) convergedAt.set(t.id, Math.max(0, (ledger.latest(t.id)?.atMs ?? stoppedAt) - stoppedAt));
        if (readyAt === undefined) {
          const list = (await kube.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultsyncs', namespace: NAMESPACE })) as { items: KvsObject[] };
          if (list.items.length === plan.syncs.length && list.items.every(isReady)) readyAt = Date.now() - stoppedAt;
        }
        return convergedAt.size === allTargets.length && readyAt !== undefined ? true : undefined;
      },
      { timeoutMs: waitMs, intervalMs: 500, description: 'convergence' },
    ).catch(() => undefined);
    const notConverged = allTargets.filter((t) => !convergedAt.has(t.id)).map((t) => t.id);
    if (readyAt === undefined) notConverged.push('KeyVaultSyncs Ready');
    const maxOf = (ids: string[]): number | undefined => (ids.every((id) => convergedAt.has(id)) ? Math.max(0, ...ids.map((id) => convergedAt.get(id) ?? 0)) : undefined);
    const secretsMs = maxOf([...targets.values()].map((t) => t.id));
    const mountsMs = maxOf(mountTargets.map((t) => t.id));
    const allMs = secretsMs !== undefined && mountsMs !== undefined && readyAt !== undefined ? Math.max(secretsMs, mountsMs, readyAt) : undefined;
    const slowest = [...convergedAt].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([target, ms]) => ({ target, ms }));
    const convergence: ConvergenceResult = { faultsEndedAt: new Date(stoppedAt).toISOString(), targetMs, allMs, secretsMs, mountsMs, readyMs: readyAt, p50Ms: percentile50([...convergedAt.values()]), slowest, notConverged };
    if (allMs === undefined || allMs > targetMs) {
      const evidence = allMs === undefined ? `not converged ${(waitMs / 1000).toFixed(0)} s after the faults ended: ${notConverged.slice(0, 5).join(', ')}${notConverged.length > 5 ? ` and ${notConverged.length - 5} more` : ''}` : `converged after ${(allMs / 1000).toFixed(1)} s, more than two refresh intervals (${targetMs / 1000} s)`;
      ledger.report('not-converged', 'everything', evidence, Date.now());
    }

    // The planted Secrets, read once more: never written.
    for (const [name, rv] of unmanaged) {
      const s = await kube.core.readNamespacedSecret({ name, namespace: NAMESPACE }).catch(() => undefined);
      if (s?.metadata?.resourceVersion !== rv) ledger.report('unmanaged-touched', `secret ${NAMESPACE}/${name}`, `resourceVersion ${rv} → ${s?.metadata?.resourceVersion ?? 'deleted'} at the end`, Date.now());
    }
    checkProcesses();
    const memory = controllers.all.map((c) => {
      const verdict = memoryGrowth(c.memory);
      if (verdict === undefined) return { instance: c.name, samples: c.memory.length, note: 'too few samples as leader, or under two minutes, to judge' };
      if (verdict.grew) ledger.report('memory-growth', c.name, `${c.name}: RSS median ${(verdict.firstThirdMedianBytes / 2 ** 20).toFixed(1)} MiB in the first third, ${(verdict.lastThirdMedianBytes / 2 ** 20).toFixed(1)} MiB in the last (limit ${(verdict.limitBytes / 2 ** 20).toFixed(1)} MiB)`, Date.now());
      return { instance: c.name, ...verdict };
    });
    const processes = everyProcess().map((p) => ({ name: p.name, outcome: p.process.running ? ('running' as const) : p.killedOnPurpose ? ('killed on purpose' as const) : ('died' as const) }));
    const violations = ledger.violations();
    if (violations.length > 0) log(`violations: the work dir ${workDir} has every process's log`);
    return {
      seed: o.seed,
      parameters: { durationMs: o.durationMs, kvs: plan.syncs.length, mounts: plan.mounts.length, refreshSeconds: o.refreshSeconds, rotateEveryMs: o.rotateEveryMs, secrets: plan.secrets.length, certificates: plan.certificates.length },
      faults: faults.summary(),
      faultLog: faults.records,
      rotations,
      observations: { secretStates, mountGenerations, watchRelists: watcher.relists },
      violations,
      convergence,
      memory,
      processes,
      passed: violations.length === 0,
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch((err: unknown) => log(`stopping: ${String(err)}`));
    // The evidence of a failed run stays (the log above names the folder); a planted violation alone is no failure.
    const plantedTarget = o.plantViolationAtMs === undefined ? undefined : `secret ${NAMESPACE}/${plan.syncs.find((s) => s.kind === 'opaque')?.secretName ?? ''}`;
    if (ledger.violations().every((v) => v.kind === 'unknown-version' && v.target === plantedTarget)) await rm(workDir, { recursive: true, force: true });
  }
}



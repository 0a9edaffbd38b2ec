/**
 * What a fault-matrix file runs against: its OWN control plane (its faults restart and kill it, so
 * never the integration project's shared one), the CRDs, the Key Vault emulator with a service
 * principal, and per-row helpers: a namespace holding the credentials, vault objects that rotate by
 * generation, a KeyVaultSync rendering them, a watch of every Secret, and controllers as processes.
 */
import * as k8s from '@kubernetes/client-node';
import { installCrds } from '../../../src/api/install.ts';
import { startControlPlane, type ControlPlaneOptions, type RunningControlPlane } from '../../../src/dev/control-plane.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../../integration/emulator/kv-support.ts';
import { conditionOf, createCredentialsSecret, startWorld, syncApi, syncSpec, type TestWorld } from '../../integration/controller/support.ts';
import { ControllerProcess, type ControllerProcessOptions } from './controller-process.ts';
import { renderViolations, SecretHistory, type RenderMap } from './secret-history.ts';
import { VaultGenerations } from './vault-generations.ts';

export const LEASE_TIMINGS = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 };
/** Generous: the machine is shared and busy; a bound, never a speed claim. */
export const CONVERGE = { timeoutMs: 120_000, intervalMs: 200 };

export interface ReliabilityWorld {
  controlPlane: RunningControlPlane;
  kc: k8s.KubeConfig;
  world: TestWorld;
  stop(): Promise<void>;
}

export async function startReliabilityWorld(name: string, opts: ControlPlaneOptions = {}): Promise<ReliabilityWorld> {
  const controlPlane = await startControlPlane({ log: (line) => console.log(`[${name} control-plane] ${line}`), ...opts });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  await installCrds(kc);
  const world = await startWorld();
  return {
    controlPlane,
    kc,
    world,
    stop: async () => {
      await world.emu.stop();
      await controlPlane.stop();
    },
  };
}

/** One row's scene: a namespace and an operator namespace, objects `<row>-user` and `<row>-pass`, and KeyVaultSync `app` writing two Secrets from them. */
export interface Scene {
  ns: string;
  /** The operator namespace of the scene's controllers (their MAC key and Lease). */
  opNs: string;
  key: string;
  vault: VaultGenerations;
  history: SecretHistory;
  render: RenderMap;
  processes: ControllerProcess[];
  /** Starts a controller process watching the scene's namespace. */
  controller(opts: Partial<ControllerProcessOptions> & { identity: string }): ControllerProcess;
  /** Waits until both Secrets hold `generation` and status reports its versions, Ready True; returns the ms it took. */
  converged(generation: number, description: string, timeout?: { timeoutMs: number; intervalMs: number }): Promise<number>;
  violations(): string[];
  /** Stops the watch and every controller; `failed` prints their last log lines first. */
  stop(failed?: boolean): Promise<void>;
}

export const SECRETS = ['alpha', 'beta'] as const;

export async function startScene(rw: ReliabilityWorld, row: string, spec: Record<string, unknown> = {}): Promise<Scene> {
  const { kc, world } = rw;
  const ns = `${row}-${Math.random().toString(36).slice(2, 7)}`;
  const opNs = `${ns}-op`;
  for (const name of [ns, opNs]) await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name } } });
  await createCredentialsSecret(kc, ns, world);
  const user = `${row}-user`;
  const pass = `${row}-pass`;
  const vault = new VaultGenerations(clientsFor(world.emu).secrets, [user, pass]);
  await vault.rotate();
  const render: RenderMap = Object.fromEntries(SECRETS.map((s) => [s, { username: user, password: pass }]));
  const history = new SecretHistory(kc, ns);
  await history.start();
  const syncs = syncApi(kc);
  await syncs.create(ns, 'app', syncSpec(world, {
    objects: [{ name: user, type: 'secret' }, { name: pass, type: 'secret' }],
    secretObjects: SECRETS.map((secretName) => ({ secretName, type: 'Opaque', data: [{ objectName: user, key: 'username' }, { objectName: pass, key: 'password' }] })),
    ...spec,
  }));
  const processes: ControllerProcess[] = [];
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    ns,
    opNs,
    key: `${ns}/app`,
    vault,
    history,
    render,
    processes,
    controller: (opts) => {
      const p = new ControllerProcess({ kubeconfig: rw.controlPlane.kubeconfigPath, endpointsFile: world.endpointsFile, namespace: opNs, watchNamespace: ns, ...LEASE_TIMINGS, ...opts });
      processes.push(p);
      return p;
    },
    converged: async (generation, description, timeout = CONVERGE) => {
      const started = performance.now();
      await pollUntil(
        async () => {
          for (const s of SECRETS) {
            const secret = await core.readNamespacedSecret({ namespace: ns, name: s }).catch(() => undefined);
            const data = secret?.data ?? {};
            if (Buffer.from(data.password ?? '', 'base64').toString() !== vault.value(pass, generation)) return undefined;
            if (Buffer.from(data.username ?? '', 'base64').toString() !== vault.value(user, generation)) return undefined;
          }
          const obj = await syncs.get(ns, 'app');
          const ready = conditionOf(obj, 'Ready');
          if (ready?.status !== 'True' || ready.observedGeneration !== obj.metadata?.generation) return undefined;
          const versions = new Map((obj.status?.objects ?? []).map((o) => [o.name, o.version]));
          return versions.get(user) === vault.version(user, generation) && versions.get(pass) === vault.version(pass, generation) ? true : undefined;
        },
        { ...timeout, description: `${ns}: ${description}` },
      );
      return performance.now() - started;
    },
    violations: () => renderViolations(history.states, render, (o, v) => vault.generationOf(o, v)),
    stop: async (failed = false) => {
      if (failed) for (const p of processes) console.log(`[${p.identity}] last log lines:\n${p.logTail()}`);
      history.stop();
      for (const p of processes) await p.stop();
    },
  };
}

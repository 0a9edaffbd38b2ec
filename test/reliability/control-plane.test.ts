/**
 * Fault matrix, the Kubernetes control plane: kube-apiserver restarted and etcd restarted while a
 * sync is held at a named step; the controller's watches closed and answered 410 Gone while the
 * world changes; the apiserver answering 429 to everything. The controller runs as a process of its
 * own (through a proxy for the watch and 429 rows); a watch records every state of every Secret.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestartableProcess } from '../../src/dev/control-plane.ts';
import type { SyncStep } from '../../src/controller/sync-observer.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, syncApi } from '../integration/controller/support.ts';
import { ApiserverProxy } from './support/apiserver-proxy.ts';
import { CONVERGE, startReliabilityWorld, startScene, type ReliabilityWorld, type Scene } from './support/world.ts';

describe('fault matrix: the Kubernetes control plane', () => {
  let rw: ReliabilityWorld;
  let proxy: ApiserverProxy;
  let proxiedKubeconfig = '';

  beforeAll(async () => {
    rw = await startReliabilityWorld('control-plane');
    proxy = await ApiserverProxy.start(rw.controlPlane);
    proxiedKubeconfig = await proxy.writeKubeconfig(join(await mkdtemp(join(tmpdir(), 'kvsync-proxy-')), 'kubeconfig'));
  });

  afterAll(async () => {
    await proxy?.stop();
    await rw?.stop();
  });

  /** Runs a row in a scene of its own; then no render violation, no Secret deleted but `deletedByTest`, no unexpected error. */
  async function row(name: string, body: (scene: Scene) => Promise<void>, deletedByTest: string[] = []): Promise<void> {
    const scene = await startScene(rw, name);
    let failed = true;
    try {
      await body(scene);
      expect(scene.violations()).toEqual([]);
      expect(scene.history.states.filter((s) => s.type === 'DELETED').map((s) => s.name)).toEqual(deletedByTest);
      for (const p of scene.processes) expect(p.logged('unexpected reconcile error')).toEqual([]);
      failed = false;
    } finally {
      await scene.stop(failed);
    }
  }

  const RESTARTS: { process: RestartableProcess; step: SyncStep; name: string }[] = [
    { process: 'kube-apiserver', step: 'secretWritten', name: 'apiserver-restart' },
    { process: 'etcd', step: 'beforeStatus', name: 'etcd-restart' },
  ];

  it.each(RESTARTS)('$process restarted while a sync is held at step $step: the Secrets are kept, the sync converges once it is back', ({ process, step, name }) =>
    row(name, async (scene) => {
      const first = scene.controller({ identity: `${name}-1` });
      await scene.converged(0, 'generation 0 synced');
      await first.stop();
      // The next controller's sync of generation 1 is held at the step; the process goes down meanwhile.
      await scene.vault.rotate();
      const held = scene.controller({ identity: `${name}-2`, stopAt: { step, key: scene.key } });
      await held.waitStoppedAtStep();
      const restarting = rw.controlPlane.restart(process);
      held.signal('SIGCONT');
      await scene.vault.rotate();
      await restarting;
      const back = performance.now();
      const tookMs = await scene.converged(2, `generation 2 synced after the ${process} restart`);
      console.log(`[fault matrix] ${process} restarted at ${step}: converged ${(tookMs / 1000).toFixed(1)} s after it was ready again (${((performance.now() - back) / 1000).toFixed(1)} s)`);
      const obj = await syncApi(rw.kc).get(scene.ns, 'app');
      expect(conditionOf(obj, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
      expect(held.running).toBe(true);
    }));

  it('watches closed and answered 410 Gone: the informers relist, and changes made meanwhile (vault rotation, a new Secret in the spec, a Secret deleted) all arrive', () =>
    row('watch-gone', async (scene) => {
      const core = rw.kc.makeApiClient(k8s.CoreV1Api);
      const controller = scene.controller({ identity: 'watch-gone', kubeconfig: proxiedKubeconfig });
      await scene.converged(0, 'generation 0 synced');
      proxy.mode = 'gone';
      const goneBefore = proxy.counts.gone;
      proxy.closeWatches();
      // Every informer's watch was answered 410 at least twice.
      await pollUntil(() => (proxy.counts.gone - goneBefore >= 6 ? true : undefined), { ...CONVERGE, description: 'watches answered 410 Gone' });
      await scene.vault.rotate();
      const [user, pass] = scene.vault.objects;
      scene.render.gamma = { username: user ?? '', password: pass ?? '' };
      await syncApi(rw.kc).patch(scene.ns, 'app', {
        spec: { secretObjects: ['alpha', 'beta', 'gamma'].map((secretName) => ({ secretName, type: 'Opaque', data: [{ objectName: user, key: 'username' }, { objectName: pass, key: 'password' }] })) },
      });
      await core.deleteNamespacedSecret({ namespace: scene.ns, name: 'beta' });
      await pollUntil(() => (proxy.counts.gone - goneBefore >= 9 ? true : undefined), { ...CONVERGE, description: 'more watches answered 410 Gone after the changes' });
      proxy.mode = 'forward';
      const ended = performance.now();
      const tookMs = await scene.converged(1, 'generation 1 in alpha and beta after the watches recovered');
      await pollUntil(async () => {
        const gamma = await core.readNamespacedSecret({ namespace: scene.ns, name: 'gamma' }).catch(() => undefined);
        return Buffer.from(gamma?.data?.password ?? '', 'base64').toString() === scene.vault.value(pass ?? '', 1) ? true : undefined;
      }, { ...CONVERGE, description: 'gamma written' });
      console.log(`[fault matrix] watches closed and 410 Gone (${proxy.counts.gone - goneBefore} answers): converged ${(tookMs / 1000).toFixed(1)} s after the watches were served again (gamma ${((performance.now() - ended) / 1000).toFixed(1)} s)`);
      expect(controller.running).toBe(true);
    }, ['beta']));

  it('the apiserver answering 429 to every request while a sync is held after its fetch: the controller backs off, keeps the Secrets and converges when it is served again', () =>
    row('throttled', async (scene) => {
      const first = scene.controller({ identity: 'throttled-1', kubeconfig: proxiedKubeconfig });
      await scene.converged(0, 'generation 0 synced');
      await first.stop();
      await scene.vault.rotate();
      const held = scene.controller({ identity: 'throttled-2', kubeconfig: proxiedKubeconfig, stopAt: { step: 'fetched', key: scene.key } });
      await held.waitStoppedAtStep();
      proxy.mode = 'throttle';
      const throttledBefore = proxy.counts.throttled;
      const started = performance.now();
      held.signal('SIGCONT');
      await pollUntil(() => (proxy.counts.throttled - throttledBefore >= 20 ? true : undefined), { ...CONVERGE, description: 'requests answered 429' });
      await scene.vault.rotate();
      await pollUntil(() => (proxy.counts.throttled - throttledBefore >= 40 ? true : undefined), { ...CONVERGE, description: 'more requests answered 429' });
      const window = (performance.now() - started) / 1000;
      const throttled = proxy.counts.throttled - throttledBefore;
      proxy.mode = 'forward';
      const tookMs = await scene.converged(2, 'generation 2 synced after the 429s ended');
      console.log(`[fault matrix] apiserver 429: ${throttled} requests refused in ${window.toFixed(1)} s (${(throttled / window).toFixed(1)}/s), converged ${(tookMs / 1000).toFixed(1)} s after`);
      // Backing off, not a hot loop: a generous bound on the refused requests per second.
      expect(throttled / window).toBeLessThan(50);
      expect(held.running).toBe(true);
    }));
});

/**
 * Two replicas with the Event Grid endpoint on the real control plane: only the leader's pod carries
 * `kvsync.dev/eventgrid-leader=true` (what the Event Grid Service selects), a replica that is not the
 * leader answers 503 to a new-version event (Event Grid retries), and the label follows a hand-over.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../../src/api/install.ts';
import type { RunningController } from '../../../src/controller/controller.ts';
import { EVENTGRID_LEADER_LABEL } from '../../../src/eventgrid/leader-label.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { runController, startWorld, VAULT, type TestWorld } from '../controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const KEY = 'leader-routing-test-key-0123456789';
// The default lease and renew deadline: a renewal slowed by a busy machine must not move the lease, and no step
// here waits for one to expire (a stopped replica releases it; a new holder is seen at the next retry).
const TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 500 };
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let world: TestWorld;
let ns = '';
let opNs = '';
let keyFile = '';
const running: RunningController[] = [];

function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'aeg-sas-key': KEY, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const event = (id: string): string =>
  JSON.stringify([{ id, topic: 't', subject: 'db-password', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', data: { VaultName: VAULT, ObjectName: 'db-password', Version: `${id}0000` } }]);

/** Names of the pods the Event Grid Service would select. */
async function labelled(): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace: opNs, labelSelector: `${EVENTGRID_LEADER_LABEL}=true` });
  return pods.items.map((p) => p.metadata?.name ?? '').sort();
}

async function replica(pod: string): Promise<RunningController> {
  const c = await runController(kc, world, { namespace: opNs, watchNamespace: ns, identity: pod, ...TIMINGS, eventGrid: { addr: '127.0.0.1:0', keyFile, leaderPod: pod } });
  running.push(c);
  return c;
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  ns = await createTestNamespace(kc, 'eg-leader');
  opNs = await createTestNamespace(kc, 'eg-leader-op');
  keyFile = join(await mkdtemp(join(tmpdir(), 'kvsync-eg-leader-')), 'key');
  await writeFile(keyFile, KEY, { mode: 0o600 });
  // Stand-ins for the replicas' pods (no scheduler here: they stay Pending, which is all the label needs).
  for (const name of ['kvsync-a', 'kvsync-b']) {
    await core.createNamespacedPod({ namespace: opNs, body: { metadata: { name, labels: { [EVENTGRID_LEADER_LABEL]: 'true' } }, spec: { containers: [{ name: 'kvsync', image: 'kvsync:test' }] } } });
  }
});

afterAll(async () => {
  for (const c of running) await c.stop();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
});

describe('Event Grid routing to the leader', () => {
  it('labels only the leader pod, answers 503 elsewhere and follows a hand-over', async () => {
    const a = await replica('kvsync-a');
    await pollUntil(() => (a.isLeader() ? true : undefined), { ...WAIT, description: 'kvsync-a to lead' });
    const b = await replica('kvsync-b');
    // Both pods start with a stale label; the replicas correct it.
    await pollUntil(async () => ((await labelled()).join() === 'kvsync-a' ? true : undefined), { ...WAIT, description: 'only kvsync-a labelled' });
    expect(b.isLeader()).toBe(false);
    expect(await post(b.eventGrid?.url ?? '', event('e1'))).toBe(503);
    expect(await post(a.eventGrid?.url ?? '', event('e1'))).toBe(200);

    await a.stop();
    await pollUntil(() => (b.isLeader() ? true : undefined), { ...WAIT, description: 'kvsync-b to lead after the hand-over' });
    await pollUntil(async () => ((await labelled()).join() === 'kvsync-b' ? true : undefined), { ...WAIT, description: 'only kvsync-b labelled' });
    expect(await post(b.eventGrid?.url ?? '', event('e2'))).toBe(200);
  });
});

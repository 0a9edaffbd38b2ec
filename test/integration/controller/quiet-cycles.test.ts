/**
 * What a quiet refresh costs the apiserver, counted from the controller's own client (request-count.ts)
 * on the real control plane and emulator: with nothing changing, refreshes apply no Secret, write no
 * status, record no event and read no Secret by GET (the informer cache serves them). A rotation costs
 * the writes it needs, and an out-of-band edit is still repaired, without a GET.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { countRequests, type CountedRequest, type RequestCounter } from '../support/request-count.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from './support.ts';

const N = 4;
const WAIT = { timeoutMs: 45_000, intervalMs: 200 };

/** Successful syncs so far, from the controller's `kvsync_syncs_total{result="success"}`. */
async function successes(fixture: OperatorFixture): Promise<number> {
  const { body } = await fixture.controller.metrics.scrape();
  const line = body.split('\n').find((l) => l.startsWith('kvsync_syncs_total{result="success"}'));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** `METHOD resource[/subresource]` of each request to the test namespace. */
function summary(requests: readonly CountedRequest[], ns: string): string[] {
  const prefix = [`/api/v1/namespaces/${ns}/`, `/apis/kvsync.dev/v1alpha1/namespaces/${ns}/`, `/apis/events.k8s.io/v1/namespaces/${ns}/`];
  const out: string[] = [];
  for (const r of requests) {
    const p = prefix.find((x) => r.path.startsWith(x));
    if (p === undefined) continue;
    const [resource, name, sub] = r.path.slice(p.length).split('/');
    // The service principal's Secret by its name; every other object as `name`.
    const shown = name === undefined ? '' : name === 'kv-creds' ? '/kv-creds' : '/name';
    out.push(`${r.method} ${resource ?? ''}${shown}${sub === undefined ? '' : `/${sub}`}`);
  }
  return out;
}

const writes = (s: string[]): string[] => s.filter((r) => !r.startsWith('GET '));
const secretGets = (s: string[]): string[] => s.filter((r) => r === 'GET secrets/name');
/** Reads of the service principal's Secret: at most one per IDENTITY_READ_TTL_MS (1 min), shared by every KeyVaultSync. */
const credentialReads = (s: string[]): string[] => s.filter((r) => r === 'GET secrets/kv-creds');

describe('quiet refreshes on the real control plane', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const syncs = syncApi(kc);
  const controllerKc = kubeConfig();
  let counter: RequestCounter;
  let fixture: OperatorFixture;

  const value = async (name: string): Promise<string | undefined> => {
    const s = await core.readNamespacedSecret({ name, namespace: fixture.ns }).catch(() => undefined);
    const v = s?.data?.PASSWORD;
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString();
  };

  beforeAll(async () => {
    counter = countRequests(controllerKc);
    fixture = await startOperatorFixture(kc, 'quiet', { kubeConfig: controllerKc, leaderElect: false });
    for (let i = 0; i < N; i++) {
      await syncs.create(fixture.ns, `app-${i}`, syncSpec(fixture.world, {
        refreshInterval: '10s',
        objects: [{ name: 'db-password', type: 'secret' }, { name: 'shop-tls', type: 'certificate' }],
        secretObjects: [
          { secretName: `app-${i}-db`, type: 'Opaque', data: [{ objectName: 'db-password', key: 'PASSWORD' }] },
          { secretName: `app-${i}-tls`, type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls', key: 'tls.crt' }, { objectName: 'shop-tls', key: 'tls.key' }] },
        ],
      }));
    }
    await pollUntil(async () => {
      for (let i = 0; i < N; i++) if (conditionOf(await syncs.get(fixture.ns, `app-${i}`), 'Ready')?.status !== 'True') return undefined;
      return true;
    }, { ...WAIT, description: 'every KeyVaultSync Ready' });
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('a first sync reads each Secret once (it does not exist yet), applies it once and writes status once, with no Event', () => {
    const first = summary(counter.requests, fixture.ns);
    expect(first.filter((r) => r === 'PATCH secrets/name')).toHaveLength(2 * N);
    expect(secretGets(first)).toHaveLength(2 * N);
    expect(first.filter((r) => r === 'PATCH keyvaultsyncs/name/status')).toHaveLength(N);
    expect(first.filter((r) => r.startsWith('POST events'))).toEqual([]);
    expect(credentialReads(first)).toHaveLength(1);
  });

  it(`refreshes of ${N} KeyVaultSyncs over two quiet cycles make no write and no Secret GET`, async () => {
    counter.reset();
    const start = await successes(fixture);
    // Every KeyVaultSync refreshed at least twice (10 s ± 10 %).
    await pollUntil(async () => ((await successes(fixture)) >= start + 2 * N ? true : undefined), { ...WAIT, description: 'two refreshes of each KeyVaultSync' });
    const quiet = summary(counter.requests, fixture.ns);
    expect(writes(quiet)).toEqual([]);
    expect(secretGets(quiet)).toEqual([]);
    expect(credentialReads(quiet).length).toBeLessThanOrEqual(1);
  });

  it('a rotation costs the Secret applies and status writes it needs, and no Secret GET', async () => {
    counter.reset();
    await clientsFor(fixture.world.emu).secrets.setSecret('db-password', 'rotated-quietly');
    await pollUntil(async () => {
      for (let i = 0; i < N; i++) if ((await value(`app-${i}-db`)) !== 'rotated-quietly') return undefined;
      for (let i = 0; i < N; i++) if (!(await syncs.get(fixture.ns, `app-${i}`)).status?.objects?.some((o) => o.name === 'db-password' && o.version !== undefined)) return undefined;
      return true;
    }, { ...WAIT, description: 'every app-*-db holds the rotated value' });
    // Let the status writes of the rotation land.
    const start = await successes(fixture);
    await pollUntil(async () => ((await successes(fixture)) >= start + N ? true : undefined), { ...WAIT, description: 'a refresh after the rotation' });
    const rotation = summary(counter.requests, fixture.ns);
    expect(rotation.filter((r) => r === 'PATCH secrets/name')).toHaveLength(N);
    expect(rotation.filter((r) => r === 'PATCH keyvaultsyncs/name/status')).toHaveLength(N);
    expect(secretGets(rotation)).toEqual([]);
  });

  it('an out-of-band edit is repaired from the cache: one apply, no Secret GET', async () => {
    counter.reset();
    await core.patchNamespacedSecret(
      { name: 'app-0-db', namespace: fixture.ns, body: { data: { PASSWORD: Buffer.from('tampered').toString('base64') } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await pollUntil(async () => ((await value('app-0-db')) === 'rotated-quietly' ? true : undefined), { ...WAIT, description: 'app-0-db repaired' });
    const repair = summary(counter.requests, fixture.ns);
    expect(repair.filter((r) => r === 'PATCH secrets/name')).toHaveLength(1);
    expect(secretGets(repair)).toEqual([]);
  });
});

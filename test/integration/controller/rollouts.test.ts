/**
 * Rollouts and certificate warnings on the real control plane (kube-controller-manager's deployment
 * and replicaset controllers run; pods never do, so rollouts are seen in the Deployment's template,
 * generation and ReplicaSets) and the real emulator:
 * - the first sync rolls nothing; a changed secret rolls its restart targets (a Deployment by name, a
 *   StatefulSet by selector), a `kvsync.dev/reload` Deployment using the Secret by envFrom, and a
 *   Deployment using `kvsync:<kvs>/<alias>` env injection, exactly once — more force-syncs and a drift
 *   repair without a change roll nothing; a Deployment using the Secret without
 *   the annotation is not rolled; a missing target is a Warning;
 * - CertificateExpiring for a certificate near expiry and not for a far one; NewerVersionAvailable for
 *   a pinned certificate with a newer version in Key Vault.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../../src/controller/controller.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor, countOf, requestCounts, type Clients } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture, type TestWorld } from './support.ts';

const WAIT = { timeoutMs: 60_000, intervalMs: 250 };
const DAY_MS = 86_400_000;
const RESTARTED_FOR = 'kvsync.dev/restarted-for';

describe('rollouts and certificate warnings on the real control plane and emulator', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const syncs = syncApi(kc);
  let fixture: OperatorFixture | undefined;
  let world: TestWorld;
  let ns = '';
  let controller: RunningController;
  let admin: Clients;

  const deployment = (name: string, opts: { annotations?: Record<string, string>; container?: Partial<k8s.V1Container> } = {}): k8s.V1Deployment => ({
    metadata: { name, labels: { app: name }, ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1', ...opts.container }] } },
    },
  });
  const readDeployment = (name: string): Promise<k8s.V1Deployment> => apps.readNamespacedDeployment({ name, namespace: ns });
  const replicaSets = async (name: string): Promise<number> => (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app=${name}` })).items.length;
  const events = async (kvs: string): Promise<k8s.CoreV1Event[]> => (await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${kvs}` })).items;
  const lastSyncTime = async (kvs: string): Promise<string | undefined> => (await syncs.get(ns, kvs)).status?.lastSyncTime;
  /** Force-syncs and waits for the resulting successful sync (a newer lastSyncTime, Ready). */
  const forceSync = async (kvs: string, value: string): Promise<void> => {
    const before = await lastSyncTime(kvs);
    await syncs.patch(ns, kvs, { metadata: { annotations: { 'kvsync.dev/force-sync': value } } });
    await pollUntil(async () => {
      const o = await syncs.get(ns, kvs);
      return o.status?.lastSyncTime !== before && conditionOf(o, 'Ready')?.status === 'True' ? true : undefined;
    }, { ...WAIT, description: `${kvs} synced again after force-sync ${value}` });
  };
  const metricValue = async (name: string, labels: Record<string, string>): Promise<number | undefined> => {
    const m = await controller.metrics.registry.getSingleMetric(name)?.get();
    return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value;
  };

  beforeAll(async () => {
    // Certificates are near expiry when they expire within 60 days: a 1-month one is, a 6-month one is not.
    fixture = await startOperatorFixture(kc, 'roll', { expiryWarningWindowMs: 60 * DAY_MS });
    ({ world, ns, controller } = fixture);
    admin = clientsFor(world.emu);
  }, 120_000);

  afterAll(async () => {
    await fixture?.stop();
  });

  it('rolls restart targets, reload-annotated and env-injected Deployments once per real change, never on the first sync', async () => {
    await admin.secrets.setSecret('roll-password', 'first-value');
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web') });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('reloader', { annotations: { 'kvsync.dev/reload': 'true' }, container: { envFrom: [{ secretRef: { name: 'roll-db' } }] } }) });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('bystander', { container: { envFrom: [{ secretRef: { name: 'roll-db' } }] } }) });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('injected', { container: { env: [{ name: 'DB_PASSWORD', value: 'kvsync:roll/password' }] } }) });
    const all = ['web', 'reloader', 'bystander', 'injected'];
    for (const name of all) await pollUntil(async () => ((await replicaSets(name)) === 1 ? true : undefined), { ...WAIT, description: `first ReplicaSet of ${name}` });
    // A StatefulSet selected by label (no pods run: its template and generation tell).
    const labels = { app: 'db', tier: 'db' };
    await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: { metadata: { name: 'db', labels }, spec: { serviceName: 'db', replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'db', image: 'registry.invalid/db:1' }] } } } },
    });
    const statefulSet = (): Promise<k8s.V1StatefulSet> => apps.readNamespacedStatefulSet({ name: 'db', namespace: ns });

    await syncs.create(ns, 'roll', syncSpec(world, {
      objects: [{ name: 'roll-password', type: 'secret', alias: 'password' }],
      secretObjects: [{ secretName: 'roll-db', type: 'Opaque', data: [{ objectName: 'password', key: 'password' }] }],
      refreshInterval: '1h',
      restartTargets: [{ kind: 'Deployment', name: 'web' }, { kind: 'Deployment', name: 'not-there' }, { kind: 'StatefulSet', selector: { matchLabels: { tier: 'db' } } }],
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'roll'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'roll Ready' });
    // First sync, then a force-sync with unchanged data: nothing is rolled.
    await forceSync('roll', 'unchanged-1');
    for (const name of all) {
      const d = await readDeployment(name);
      expect(d.metadata?.generation, name).toBe(1);
      expect(d.spec?.template.metadata?.annotations?.[RESTARTED_FOR], name).toBeUndefined();
    }
    expect((await statefulSet()).metadata?.generation).toBe(1);
    expect((await events('roll')).filter((e) => e.reason === 'RolledOut')).toEqual([]);

    // A real change.
    await admin.secrets.setSecret('roll-password', 'second-value');
    await forceSync('roll', 'changed-1');
    const secret = await core.readNamespacedSecret({ name: 'roll-db', namespace: ns });
    expect(Buffer.from(secret.data?.password ?? '', 'base64').toString()).toBe('second-value');
    const rolled = ['web', 'reloader', 'injected'];
    for (const name of rolled) {
      const d = await readDeployment(name);
      expect(d.metadata?.generation, name).toBe(2);
      expect(d.spec?.template.metadata?.annotations?.[RESTARTED_FOR], name).toMatch(/^roll:[0-9a-f]{20}$/);
      const fields = JSON.stringify(d.metadata?.managedFields?.filter((f) => f.manager === 'kvsync'));
      expect(fields, `${name}: the annotation is owned by field manager kvsync`).toContain(RESTARTED_FOR);
      await pollUntil(async () => ((await replicaSets(name)) === 2 ? true : undefined), { ...WAIT, description: `second ReplicaSet of ${name}` });
    }
    expect((await readDeployment('bystander')).metadata?.generation).toBe(1);
    expect((await statefulSet()).metadata?.generation).toBe(2);
    expect((await statefulSet()).spec?.template.metadata?.annotations?.[RESTARTED_FOR]).toMatch(/^roll:[0-9a-f]{20}$/);
    const rolledOut = (await events('roll')).filter((e) => e.reason === 'RolledOut');
    expect(rolledOut).toHaveLength(1);
    expect(rolledOut[0]?.type).toBe('Normal');
    expect(rolledOut[0]?.message).toBe('rolled Deployment injected, Deployment reloader, Deployment web, StatefulSet db: data of Secret roll-db changed');
    expect(JSON.stringify(await events('roll'))).not.toContain('second-value');
    const notFound = (await events('roll')).filter((e) => e.reason === 'RestartTargetNotFound');
    expect(notFound.map((e) => [e.type, e.message])).toEqual([['Warning', `restartTargets: no Deployment "not-there" in namespace ${ns}; nothing rolled for it`]]);
    expect(await metricValue('kvsync_restarts_triggered_total', { namespace: ns, kind: 'Deployment' })).toBe(3);
    expect(await metricValue('kvsync_restarts_triggered_total', { namespace: ns, kind: 'StatefulSet' })).toBe(1);

    // More syncs without a change, and a drift repair (the Secret edited out of band and restored): never
    // twice for one change.
    await forceSync('roll', 'unchanged-2');
    await core.patchNamespacedSecret({ name: 'roll-db', namespace: ns, body: { data: { password: Buffer.from('tampered').toString('base64') } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await pollUntil(async () => {
      const s = await core.readNamespacedSecret({ name: 'roll-db', namespace: ns });
      return Buffer.from(s.data?.password ?? '', 'base64').toString() === 'second-value' ? true : undefined;
    }, { ...WAIT, description: 'roll-db repaired' });
    await forceSync('roll', 'unchanged-3');
    for (const name of rolled) {
      expect((await readDeployment(name)).metadata?.generation, name).toBe(2);
      expect(await replicaSets(name), name).toBe(2);
    }
    expect((await readDeployment('bystander')).metadata?.generation).toBe(1);
    expect((await statefulSet()).metadata?.generation).toBe(2);
    expect((await events('roll')).filter((e) => e.reason === 'RolledOut')).toHaveLength(1);
    expect(await metricValue('kvsync_restarts_triggered_total', { namespace: ns, kind: 'Deployment' })).toBe(3);

    // The next change rolls again, once.
    await admin.secrets.setSecret('roll-password', 'third-value');
    await forceSync('roll', 'changed-2');
    for (const name of rolled) expect((await readDeployment(name)).metadata?.generation, name).toBe(3);
    expect((await statefulSet()).metadata?.generation).toBe(3);
    expect((await readDeployment('bystander')).metadata?.generation).toBe(1);
  });

  it('warns CertificateExpiring for a certificate near expiry (not a far one) and NewerVersionAvailable for a pinned one', async () => {
    await (await admin.certificates.beginCreateCertificate('soon-tls', { issuerName: 'Self', subject: 'CN=soon.example', validityInMonths: 1 }, { intervalInMs: 50 })).pollUntilDone();
    const v1 = await (await admin.certificates.beginCreateCertificate('pinned-tls', { issuerName: 'Self', subject: 'CN=pinned.example', validityInMonths: 12 }, { intervalInMs: 50 })).pollUntilDone();
    const v2 = await (await admin.certificates.beginCreateCertificate('pinned-tls', { issuerName: 'Self', subject: 'CN=pinned.example', validityInMonths: 12 }, { intervalInMs: 50 })).pollUntilDone();
    const pinned = v1.properties.version ?? '';
    await syncs.create(ns, 'certs', syncSpec(world, {
      objects: [
        { name: 'soon-tls', type: 'certificate' },
        { name: 'shop-tls', type: 'certificate' },
        { name: 'pinned-tls', type: 'certificate', version: pinned },
      ],
      secretObjects: [
        { secretName: 'soon-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'soon-tls' }] },
        { secretName: 'far-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'shop-tls' }] },
        { secretName: 'pinned-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'pinned-tls' }] },
      ],
      refreshInterval: '1h',
    }));
    const warnings = await pollUntil(async () => {
      const w = (await events('certs')).filter((e) => e.type === 'Warning');
      return w.some((e) => e.reason === 'CertificateExpiring') && w.some((e) => e.reason === 'NewerVersionAvailable') ? w : undefined;
    }, { ...WAIT, description: 'CertificateExpiring and NewerVersionAvailable events' });
    const expiring = warnings.filter((e) => e.reason === 'CertificateExpiring');
    expect(expiring).toHaveLength(1);
    expect(expiring[0]?.message).toMatch(/^certificate "soon-tls" \(version [0-9a-f]+\) expires at \S+, in \d+ days \(warning window 60 days\); renew it in Key Vault$/);
    const newer = warnings.filter((e) => e.reason === 'NewerVersionAvailable');
    expect(newer.map((e) => e.message)).toEqual([expect.stringContaining(`certificate "pinned-tls" is pinned to version ${pinned}; Key Vault holds a newer enabled version ${v2.properties.version ?? ''}`)]);
    expect(await metricValue('kvsync_certificate_expiring', { namespace: ns, keyvaultsync: 'certs', object: 'soon-tls' })).toBe(1);
    expect(await metricValue('kvsync_certificate_expiring', { namespace: ns, keyvaultsync: 'certs', object: 'shop-tls' })).toBe(0);
    expect(await metricValue('kvsync_certificate_newer_version_available', { namespace: ns, keyvaultsync: 'certs', object: 'pinned-tls' })).toBe(1);
    expect(await metricValue('kvsync_certificate_newer_version_available', { namespace: ns, keyvaultsync: 'certs', object: 'soon-tls' })).toBeUndefined();

    // Once per (object, version), not per refresh; the pinned certificate's versions (its backing
    // secret's, as every version listing of a `certificate` object) are listed once an hour, not per sync
    // (the emulator's own counters).
    await forceSync('certs', 'again-1');
    await forceSync('certs', 'again-2');
    const after = (await events('certs')).filter((e) => e.type === 'Warning');
    expect(after.filter((e) => e.reason === 'CertificateExpiring')).toHaveLength(1);
    expect(after.filter((e) => e.reason === 'NewerVersionAvailable')).toHaveLength(1);
    expect(countOf(await requestCounts(world.emu), 'listSecretVersions', 200)).toBe(1);
    expect(countOf(await requestCounts(world.emu), 'listCertificateVersions', 200)).toBe(0);
  });
});

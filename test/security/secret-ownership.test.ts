/**
 * kvsync writes a Secret only when it proves it created it for this KeyVaultSync (its UID, in an owner
 * reference or kvsync.dev/owner-uid), never because of labels; Merge needs the Secret owner's consent
 * and never reaches token Secrets, Helm releases or another KeyVaultSync's Secret; and every
 * KeyVaultSync applies as its own field manager. The controller runs against the real apiserver and
 * the Key Vault emulator.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MERGE_FROM_ANNOTATION } from '../../src/api/secret-ownership.ts';
import { fieldManagerFor, MANAGED_BY_LABEL, SYNC_LABEL } from '../../src/controller/labels.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type ConditionView, type OperatorFixture } from '../integration/controller/support.ts';
import { kubeConfig } from '../integration/support/kube.ts';
import { loadAzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { kubeClusterView } from '../../src/webhook/kube-cluster-view.ts';
import { mutatePod } from '../../src/webhook/mutate-pod.ts';

const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
const PLANTED = 'planted-by-a-look-alike-7f3a';
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('Secret ownership: proven by UID, consented for Merge, one field manager per KeyVaultSync', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const syncs = syncApi(kc);
  let fixture: OperatorFixture | undefined;
  let ns = '';

  const spec = (secretName: string, creationPolicy: string, type = 'Opaque'): Record<string, unknown> => {
    if (fixture === undefined) throw new Error('no fixture');
    return syncSpec(fixture.world, {
      objects: [{ name: 'db-password', type: 'secret' }],
      secretObjects: [{ secretName, type, creationPolicy, data: [{ objectName: 'db-password', key: 'DB_PASSWORD' }] }],
    });
  };
  const readyCondition = (name: string, want: (c: ConditionView) => boolean, description: string): Promise<ConditionView> =>
    pollUntil(
      async () => {
        const o = await syncs.get(ns, name);
        const c = conditionOf(o, 'Ready');
        return c !== undefined && o.status?.observedGeneration === o.metadata?.generation && want(c) ? c : undefined;
      },
      { ...WAIT, description },
    );
  const refused = (name: string, reason: string): Promise<ConditionView> => readyCondition(name, (c) => c.status === 'False' && c.reason === reason, `KeyVaultSync ${name} Ready=False ${reason}`);
  const ready = (name: string): Promise<ConditionView> => readyCondition(name, (c) => c.status === 'True', `KeyVaultSync ${name} Ready=True`);
  const applyManagers = (s: k8s.V1Secret): string[] => (s.metadata?.managedFields ?? []).filter((m) => m.operation === 'Apply').map((m) => m.manager ?? '');

  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'own');
    ns = fixture.ns;
  }, 120_000);

  afterAll(async () => {
    await fixture?.stop();
  });

  it('does not adopt a look-alike Secret carrying kvsync\'s labels, under any policy, and its extra keys flow nowhere', async () => {
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'lookalike-db', labels: { [MANAGED_BY_LABEL]: 'kvsync', [SYNC_LABEL]: 'shop' } }, type: 'Opaque', stringData: { PLANTED_KEY: PLANTED, DB_PASSWORD: 'old' } },
    });
    const before = await core.readNamespacedSecret({ namespace: ns, name: 'lookalike-db' });
    await syncs.create(ns, 'shop', spec('lookalike-db', 'Owner'));
    const conflict = await refused('shop', 'SecretConflict');
    expect(conflict.message).toContain('lookalike-db');
    for (const policy of ['Orphan', 'Merge']) {
      await syncs.patch(ns, 'shop', { spec: spec('lookalike-db', policy) });
      await refused('shop', 'SecretConflict');
    }
    const after = await core.readNamespacedSecret({ namespace: ns, name: 'lookalike-db' });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(Object.keys(after.data ?? {}).sort()).toEqual(['DB_PASSWORD', 'PLANTED_KEY']);
    // Nothing of it reaches the KeyVaultSync: no MAC of its data, no planted value in status or events.
    const sync = await syncs.get(ns, 'shop');
    expect((sync.status?.secrets ?? []).map((s) => s.name)).not.toContain('lookalike-db');
    expect(JSON.stringify(sync.status)).not.toContain(PLANTED);
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=shop' });
    expect(JSON.stringify(events.items)).not.toContain(PLANTED);
    // Nor into pods: the webhook refuses env-from and env injection from the look-alike.
    if (fixture === undefined) throw new Error('no fixture');
    const vaults = await loadAzureEnvironment({ endpointsFile: fixture.world.endpointsFile, env: {} });
    const opts = { operatorNamespace: fixture.opNs, sidecarImage: 'kvsync:test', vaults };
    const admit = (p: k8s.V1Pod) => mutatePod({ pod: p, namespace: ns, namespaceLabels: {} }, kubeClusterView(kc, vaults), opts);
    for (const p of [
      { metadata: { name: 'web', labels: { 'kvsync.dev/inject': 'enabled' }, annotations: { 'kvsync.dev/env-from': 'shop' } }, spec: { containers: [{ name: 'app', image: 'app' }] } },
      { metadata: { name: 'web', labels: { 'kvsync.dev/inject': 'enabled' } }, spec: { containers: [{ name: 'app', image: 'app', env: [{ name: 'DB', value: 'kvsync:shop/db-password' }] }] } },
    ]) {
      const r = await admit(p);
      expect(r.kind === 'denied' ? r.error.reason : r.kind).toBe('SecretNotOwned');
    }
  });

  it('Merge refuses service-account token and Helm release Secrets, even with the owner\'s consent, with reason SecretProtected', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'robot' } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'robot-token', annotations: { 'kubernetes.io/service-account.name': 'robot', [MERGE_FROM_ANNOTATION]: 'token-merge' } }, type: 'kubernetes.io/service-account-token' },
    });
    await syncs.create(ns, 'token-merge', spec('robot-token', 'Merge'));
    const token = await refused('token-merge', 'SecretProtected');
    expect(token.message).toContain('kubernetes.io/service-account-token');

    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'sh.helm.release.v1.web.v1', annotations: { [MERGE_FROM_ANNOTATION]: 'helm-merge' } }, type: 'helm.sh/release.v1', stringData: { release: 'H4sI' } },
    });
    await syncs.create(ns, 'helm-merge', spec('sh.helm.release.v1.web.v1', 'Merge'));
    expect((await refused('helm-merge', 'SecretProtected')).message).toContain('helm.sh/release.v1');

    // Nor can a KeyVaultSync ask for a token Secret to be created: the CRD's type enum refuses it.
    const asked = await syncs.create(ns, 'token-create', spec('minted-token', 'Owner', 'kubernetes.io/service-account-token')).catch((e: unknown) => e);
    expect(asked).toBeInstanceOf(k8s.ApiException);
    expect((asked as k8s.ApiException<unknown>).code).toBe(422);
    for (const name of ['robot-token', 'sh.helm.release.v1.web.v1']) {
      const s = await core.readNamespacedSecret({ namespace: ns, name });
      expect(Object.keys(s.data ?? {}), name).not.toContain('DB_PASSWORD');
    }
    const minted = await core.readNamespacedSecret({ namespace: ns, name: 'minted-token' }).catch((e: unknown) => e);
    expect(minted).toBeInstanceOf(k8s.ApiException);
  });

  it('Merge refuses another KeyVaultSync\'s Secret, even when it names the merging KeyVaultSync', async () => {
    await syncs.create(ns, 'first', spec('shared', 'Owner'));
    await ready('first');
    const owned = await core.readNamespacedSecret({ namespace: ns, name: 'shared' });
    await core.patchNamespacedSecret({ namespace: ns, name: 'shared', body: { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: 'second' } } } }, MERGE);
    await syncs.create(ns, 'second', spec('shared', 'Merge'));
    const other = await refused('second', 'SecretConflict');
    expect(other.message).toContain('another KeyVaultSync');
    const after = await core.readNamespacedSecret({ namespace: ns, name: 'shared' });
    expect(Object.keys(after.data ?? {})).toEqual(['DB_PASSWORD']);
    expect(after.metadata?.ownerReferences).toEqual(owned.metadata?.ownerReferences);
  });

  it('merges into a user\'s Secret named for it, and each KeyVaultSync applies as its own field manager', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'app-config', annotations: { [MERGE_FROM_ANNOTATION]: 'merger' } }, stringData: { theirs: 'keep-me' } } });
    await syncs.create(ns, 'merger', spec('app-config', 'Merge'));
    await syncs.create(ns, 'third', spec('third-db', 'Orphan'));
    await ready('merger');
    await ready('third');
    const merged = await core.readNamespacedSecret({ namespace: ns, name: 'app-config' });
    expect(Object.keys(merged.data ?? {}).sort()).toEqual(['DB_PASSWORD', 'theirs']);
    expect(applyManagers(merged)).toEqual([fieldManagerFor(ns, 'merger')]);
    const third = await core.readNamespacedSecret({ namespace: ns, name: 'third-db' });
    expect(applyManagers(third)).toEqual([fieldManagerFor(ns, 'third')]);
    const first = await core.readNamespacedSecret({ namespace: ns, name: 'shared' });
    expect(applyManagers(first)).toEqual([fieldManagerFor(ns, 'first')]);
    expect(new Set([fieldManagerFor(ns, 'merger'), fieldManagerFor(ns, 'third'), fieldManagerFor(ns, 'first')]).size).toBe(3);
    // The Orphan Secret carries its creator's UID, its proof of ownership at the next sync.
    expect(third.metadata?.annotations?.['kvsync.dev/owner-uid']).toBe((await syncs.get(ns, 'third')).metadata?.uid);
  });
});

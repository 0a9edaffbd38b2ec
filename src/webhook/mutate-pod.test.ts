import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseKeyVaultIdentity, parseKeyVaultSync } from '../api/index.ts';
import { designExampleSpec, keyVaultIdentity, keyVaultIdentitySpec, keyVaultSync } from '../api/testing/fixtures.ts';
import { PodDeniedError } from './errors.ts';
import { mutatePod, parseEnvReference } from './mutate-pod.ts';
import type { ClusterView, JsonPatchOperation, KeyVaultIdentityLookup, KeyVaultSyncLookup, MutationResult, SecretOwnershipView } from './mutate-pod.ts';

const NS = 'shop';
const CLIENT = '22222222-2222-3333-4444-555555555555';
const opts = { operatorNamespace: 'kvsync-system', sidecarImage: 'ghcr.io/kvsync/kvsync:test' };

/** Applies whole-member `add` operations below the root, as the mutation emits them. */
function applyPatch(doc: unknown, patch: JsonPatchOperation[]): V1Pod {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of patch) {
    expect(op.op).toBe('add');
    const segs = op.path.split('/').slice(1);
    let target = out;
    for (const s of segs.slice(0, -1)) target = target[s] as Record<string, unknown>;
    target[segs.at(-1) ?? ''] = structuredClone(op.value);
  }
  return out;
}

function view(syncs: Record<string, unknown>[], sa: Record<string, Record<string, string>> = {}, identities: Record<string, unknown>[] = []): ClusterView & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    getKeyVaultSync(namespace: string, name: string): Promise<KeyVaultSyncLookup> {
      reads.push(`${namespace}/${name}`);
      const obj = syncs.find((s) => (s.metadata as { name: string; namespace: string }).name === name && (s.metadata as { namespace: string }).namespace === namespace);
      if (obj === undefined) return Promise.resolve({ kind: 'missing' });
      const parsed = parseKeyVaultSync(obj);
      return Promise.resolve(parsed.ok ? { kind: 'found', sync: parsed.value, object: obj } : { kind: 'invalid', message: parsed.error.message });
    },
    getKeyVaultIdentity(name: string): Promise<KeyVaultIdentityLookup> {
      const obj = identities.find((s) => (s.metadata as { name: string }).name === name);
      if (obj === undefined) return Promise.resolve({ kind: 'missing' });
      const parsed = parseKeyVaultIdentity(obj);
      return Promise.resolve(parsed.ok ? { kind: 'found', identity: parsed.value } : { kind: 'invalid', message: parsed.error.message });
    },
    getServiceAccountAnnotations(namespace: string, name: string): Promise<Record<string, string> | undefined> {
      return Promise.resolve(sa[`${namespace}/${name}`]);
    },
  };
}

const shop = keyVaultSync(designExampleSpec(), 'shop', NS);

function pod(over: { labels?: Record<string, string>; annotations?: Record<string, string>; containers?: V1Container[]; spec?: Partial<NonNullable<V1Pod['spec']>> } = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labels: over.labels ?? { 'kvsync.dev/inject': 'enabled' }, annotations: over.annotations ?? {} },
    spec: { containers: over.containers ?? [{ name: 'app', image: 'nginx', env: [{ name: 'PLAIN', value: 'x' }] }], ...over.spec },
  };
}

async function run(p: V1Pod, v: ClusterView = view([shop]), namespaceLabels: Record<string, string> = {}, namespace = NS): Promise<MutationResult> {
  return mutatePod({ pod: p, namespace, namespaceLabels }, v, opts);
}

async function patched(p: V1Pod, v: ClusterView = view([shop])): Promise<V1Pod> {
  const r = await run(p, v);
  if (r.kind !== 'patch') throw new Error(`expected a patch, got ${r.kind}: ${r.kind === "denied" ? r.error.message : r.why}`);
  const after = applyPatch(p, r.patch);
  // Idempotence: running again on the mutated pod changes nothing.
  const again = await run(after, v);
  expect(again).toEqual({ kind: 'patch', patch: [] });
  return after;
}

function denial(r: MutationResult): PodDeniedError {
  if (r.kind !== 'denied') throw new Error(`expected a denial, got ${JSON.stringify(r)}`);
  return r.error;
}

describe('opt-in', () => {
  it('leaves a pod without the label (nor namespace label) untouched, and reads nothing', async () => {
    const v = view([shop]);
    const r = await run(pod({ labels: {}, containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:shop/password' }] }] }), v);
    expect(r.kind).toBe('untouched');
    expect(v.reads).toEqual([]);
  });
  it('accepts the namespace label instead of the pod label', async () => {
    const r = await run(pod({ labels: {}, containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:shop/password' }] }] }), view([shop]), { 'kvsync.dev/inject': 'enabled' });
    expect(r.kind).toBe('patch');
  });
  it('never touches kube-system or the operator namespace, even with the label', async () => {
    expect((await run(pod(), view([]), {}, 'kube-system')).kind).toBe('untouched');
    expect((await run(pod(), view([]), {}, 'kvsync-system')).kind).toBe('untouched');
  });
  it('returns an empty patch for an opted-in pod that uses nothing', async () => {
    expect(await run(pod())).toEqual({ kind: 'patch', patch: [] });
  });
});

describe('env references', () => {
  it('parses the kvsync and akv2k8s forms and ignores other values', () => {
    expect(parseEnvReference('kvsync:shop/password')).toMatchObject({ form: 'kvsync', sync: 'shop', alias: 'password', namespace: undefined });
    expect(parseEnvReference('kvsync:other/shop/password')).toMatchObject({ namespace: 'other', sync: 'shop' });
    expect(parseEnvReference('db@azurekeyvault?tls.key')).toMatchObject({ form: 'akv2k8s', sync: 'db', key: 'tls.key' });
    expect(parseEnvReference('db@azurekeyvault')).toMatchObject({ form: 'akv2k8s', sync: 'db', key: undefined });
    expect(parseEnvReference('hello')).toBeUndefined();
    expect(() => parseEnvReference('kvsync:shop')).toThrow(PodDeniedError);
    expect(() => parseEnvReference('kvsync:/x')).toThrow(PodDeniedError);
  });

  it('rewrites kvsync:<kvs>/<alias> into a secretKeyRef on the declared Secret and key, leaving other vars', async () => {
    const after = await patched(pod({ containers: [{ name: 'app', env: [{ name: 'PLAIN', value: 'x' }, { name: 'DB', value: 'kvsync:shop/password' }] }] }));
    expect(after.spec?.containers[0]?.env).toEqual([
      { name: 'PLAIN', value: 'x' },
      { name: 'DB', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'DB_PASSWORD' } } },
    ]);
  });

  it('rewrites init containers too and resolves a certificate alias to its tls.crt entry', async () => {
    const after = await patched(pod({ spec: { initContainers: [{ name: 'init', env: [{ name: 'CRT', value: 'kvsync:shop/nginx' }] }] } }));
    expect(after.spec?.initContainers?.[0]?.env).toEqual([{ name: 'CRT', valueFrom: { secretKeyRef: { name: 'shop-tls', key: 'tls.crt' } } }]);
  });

  it('maps akv2k8s <name>@azurekeyvault?key to that Secret key, and without ?key to the only object', async () => {
    const single = keyVaultSync(
      { vault: { name: 'kv1', tenantID: 't' }, objects: [{ name: 'db-password', type: 'secret' }], secretObjects: [{ secretName: 'db', type: 'Opaque', data: [{ objectName: 'db-password', key: 'pw' }] }] },
      'db',
      NS,
    );
    const after = await patched(
      pod({ containers: [{ name: 'app', env: [{ name: 'A', value: 'db@azurekeyvault' }, { name: 'K', value: 'shop@azurekeyvault?tls.key' }] }] }),
      view([shop, single]),
    );
    expect(after.spec?.containers[0]?.env).toEqual([
      { name: 'A', valueFrom: { secretKeyRef: { name: 'db', key: 'pw' } } },
      { name: 'K', valueFrom: { secretKeyRef: { name: 'shop-tls', key: 'tls.key' } } },
    ]);
  });

  it('denies a missing KeyVaultSync, naming it and the namespace', async () => {
    const e = denial(await run(pod({ containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:nope/password' }] }] })));
    expect(e.reason).toBe('KeyVaultSyncNotFound');
    expect(e.message).toContain('KeyVaultSync "nope"');
    expect(e.message).toContain('namespace "shop"');
  });

  it('denies a reference into another namespace without reading it', async () => {
    const v = view([shop]);
    const e = denial(await run(pod({ containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:bank/vault/password' }] }] }), v));
    expect(e.reason).toBe('CrossNamespaceReference');
    expect(e.message).toContain('namespace "bank"');
    expect(v.reads).toEqual([]);
  });

  it('denies an alias the KeyVaultSync has no Secret entry for, naming alias and KeyVaultSync', async () => {
    const e = denial(await run(pod({ containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:shop/missing' }] }] })));
    expect(e.reason).toBe('AliasNotFound');
    expect(e.message).toContain('alias "missing"');
    expect(e.message).toContain('KeyVaultSync "shop"');
  });

  it('denies a malformed kvsync: value and an invalid KeyVaultSync', async () => {
    expect(denial(await run(pod({ containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:a/b/c/d' }] }] }))).reason).toBe('InvalidReference');
    const broken = keyVaultSync({ vault: { name: 'kv1' } }, 'broken', NS);
    const e = denial(await run(pod({ containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:broken/x' }] }] }), view([broken])));
    expect(e.reason).toBe('KeyVaultSyncInvalid');
  });
});

describe('env-from annotation', () => {
  it('adds an envFrom for every Secret of the KeyVaultSync to every app container, once', async () => {
    const after = await patched(pod({ annotations: { 'kvsync.dev/env-from': 'shop' }, containers: [{ name: 'a' }, { name: 'b', envFrom: [{ secretRef: { name: 'shop-db' } }] }] }));
    expect(after.spec?.containers[0]?.envFrom).toEqual([{ secretRef: { name: 'shop-tls' } }, { secretRef: { name: 'shop-db' } }]);
    expect(after.spec?.containers[1]?.envFrom).toEqual([{ secretRef: { name: 'shop-db' } }, { secretRef: { name: 'shop-tls' } }]);
  });
  it('denies a missing or foreign KeyVaultSync in the annotation', async () => {
    expect(denial(await run(pod({ annotations: { 'kvsync.dev/env-from': 'gone' } }))).message).toContain('"gone"');
    expect(denial(await run(pod({ annotations: { 'kvsync.dev/env-from': 'bank/shop' } }))).reason).toBe('CrossNamespaceReference');
  });
});

describe('Secrets a pod is pointed at', () => {
  const uid = '0b1c2d3e-0000-4000-8000-000000000001';
  const owned = { ...shop, metadata: { name: 'shop', namespace: NS, uid } };
  const withSecrets = (secrets: Record<string, SecretOwnershipView>): ClusterView => ({ ...view([owned]), getSecretOwnership: (_ns, name) => Promise.resolve(secrets[name]) });
  const ownRef = { apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', name: 'shop', uid, controller: true };
  const envPod = pod({ containers: [{ name: 'app', env: [{ name: 'DB', value: 'kvsync:shop/password' }] }] });

  it('denies env-from and env injection from a look-alike Secret kvsync did not create for the KeyVaultSync', async () => {
    const lookAlike = { metadata: { annotations: {} }, type: 'Opaque' };
    const fromEnvFrom = denial(await run(pod({ annotations: { 'kvsync.dev/env-from': 'shop' } }), withSecrets({ 'shop-db': lookAlike })));
    expect(fromEnvFrom.reason).toBe('SecretNotOwned');
    expect(fromEnvFrom.message).toContain('shop-db');
    expect(denial(await run(envPod, withSecrets({ 'shop-db': lookAlike }))).reason).toBe('SecretNotOwned');
    // Another KeyVaultSync's Secret is no better.
    const other = { metadata: { ownerReferences: [{ ...ownRef, name: 'other', uid: 'another-uid' }] } };
    expect(denial(await run(envPod, withSecrets({ 'shop-db': other }))).reason).toBe('SecretNotOwned');
  });

  it('admits Secrets the KeyVaultSync owns (its UID) and Secrets kvsync has not created yet', async () => {
    const after = await patched(pod({ annotations: { 'kvsync.dev/env-from': 'shop' } }), withSecrets({ 'shop-db': { metadata: { ownerReferences: [ownRef] } } }));
    expect(after.spec?.containers[0]?.envFrom).toEqual([{ secretRef: { name: 'shop-tls' } }, { secretRef: { name: 'shop-db' } }]);
    await patched(envPod, withSecrets({}));
  });
});

describe('mount sidecar', () => {
  const sa = { [`${NS}/shop`]: { 'azure.workload.identity/client-id': 'cid-1', 'azure.workload.identity/tenant-id': 'tid-1' } };

  function argOf(c: V1Container | undefined, flag: string): string | undefined {
    const args = c?.args ?? [];
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  }

  it('adds the memory volume, a native sidecar first, the projected token and a read-only mount (workload identity)', async () => {
    const after = await patched(
      pod({
        annotations: { 'kvsync.dev/mount': 'shop' },
        containers: [{ name: 'a' }, { name: 'b' }],
        spec: { serviceAccountName: 'shop', securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000 }, initContainers: [{ name: 'migrate' }] },
      }),
      view([shop], sa),
    );
    const s = after.spec;
    expect(s?.volumes).toEqual([
      { name: 'kvsync-secrets-store', emptyDir: { medium: 'Memory', sizeLimit: '32Mi' } },
      { name: 'kvsync-azure-identity-token', projected: { sources: [{ serviceAccountToken: { audience: 'api://AzureADTokenExchange', expirationSeconds: 3600, path: 'azure-identity-token' } }] } },
    ]);
    expect(s?.initContainers?.map((c) => c.name)).toEqual(['kvsync-mount', 'migrate']);
    const sidecar = s?.initContainers?.[0];
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.command).toEqual(['kvsync']);
    expect(sidecar?.args?.[0]).toBe('mount');
    expect(argOf(sidecar, '--dir')).toBe('/mnt/secrets-store');
    expect(argOf(sidecar, '--ready-port')).toBe('9808');
    // The stored KeyVaultSync, which `kvsync mount` parses with the same parseKeyVaultSync.
    const given = JSON.parse(argOf(sidecar, '--spec-json') ?? '{}') as Record<string, unknown>;
    expect(given).toEqual({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'shop', namespace: NS }, spec: designExampleSpec() });
    expect(parseKeyVaultSync(given).ok).toBe(true);
    expect(sidecar?.startupProbe).toMatchObject({ httpGet: { path: '/readyz', port: 9808 }, periodSeconds: 1 });
    expect(sidecar?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 9808 });
    expect(sidecar?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 3000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(sidecar?.env).toEqual([
      { name: 'AZURE_CLIENT_ID', value: 'cid-1' },
      { name: 'AZURE_TENANT_ID', value: 'tid-1' },
      { name: 'AZURE_FEDERATED_TOKEN_FILE', value: '/var/run/secrets/azure/tokens/azure-identity-token' },
      // The sidecar strips a trailing slash when it reads this, so the canonical form is written.
      { name: 'AZURE_AUTHORITY_HOST', value: 'https://login.microsoftonline.com' },
    ]);
    expect(sidecar?.volumeMounts).toEqual([
      { name: 'kvsync-secrets-store', mountPath: '/mnt/secrets-store' },
      { name: 'kvsync-azure-identity-token', mountPath: '/var/run/secrets/azure/tokens', readOnly: true },
    ]);
    for (const c of s?.containers ?? []) expect(c.volumeMounts).toEqual([{ name: 'kvsync-secrets-store', mountPath: '/mnt/secrets-store', readOnly: true }]);
    // App containers never get the Azure token or env.
    expect(s?.containers.some((c) => c.env !== undefined)).toBe(false);
  });

  it('with a CA ConfigMap, gives the sidecar alone an optional volume of it and NODE_EXTRA_CA_CERTS', async () => {
    const p = pod({ annotations: { 'kvsync.dev/mount': 'shop' }, spec: { serviceAccountName: 'shop' } });
    const r = await mutatePod({ pod: p, namespace: NS, namespaceLabels: {} }, view([shop], sa), { ...opts, sidecarCaConfigMap: { name: 'corp-ca', key: 'bundle.pem' } });
    if (r.kind !== 'patch') throw new Error(`expected a patch, got ${r.kind}`);
    const s = applyPatch(p, r.patch).spec;
    expect(s?.volumes).toContainEqual({ name: 'kvsync-ca', configMap: { name: 'corp-ca', optional: true, items: [{ key: 'bundle.pem', path: 'bundle.pem' }] } });
    const sidecar = s?.initContainers?.[0];
    expect(sidecar?.env).toContainEqual({ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/kvsync/ca/bundle.pem' });
    expect(sidecar?.volumeMounts).toContainEqual({ name: 'kvsync-ca', mountPath: '/etc/kvsync/ca', readOnly: true });
    for (const c of s?.containers ?? []) expect(c.volumeMounts?.some((m) => m.name === 'kvsync-ca')).toBe(false);
  });

  it('denies workload identity when neither the ServiceAccount nor the KeyVaultSync names a client ID', async () => {
    const e = denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'shop' }, spec: { serviceAccountName: 'shop' } })));
    expect(e.reason).toBe('IdentityUnavailable');
    expect(e.message).toContain('ServiceAccount "shop"');
  });

  it('for pod identity checks the KeyVaultIdentity grant and passes its client ID, with no token volume; honours mount-path and runs a root pod as non-root', async () => {
    const pi = keyVaultSync({ vault: { name: 'gebakv' }, identity: { podIdentity: { identityRef: 'shared' } }, objects: [{ name: 'a', type: 'secret' }] }, 'pi', NS);
    const granted = keyVaultIdentity({ ...keyVaultIdentitySpec(), type: 'podIdentity' }, 'shared');
    const after = await patched(pod({ annotations: { 'kvsync.dev/mount': 'pi', 'kvsync.dev/mount-path': '/etc/kv/' }, spec: { securityContext: { runAsUser: 0 } } }), view([pi], {}, [granted]));
    expect(after.spec?.volumes?.map((v) => v.name)).toEqual(['kvsync-secrets-store']);
    expect(after.spec?.containers[0]?.volumeMounts).toEqual([{ name: 'kvsync-secrets-store', mountPath: '/etc/kv', readOnly: true }]);
    const sidecar = after.spec?.initContainers?.[0];
    expect(argOf(sidecar, '--dir')).toBe('/etc/kv');
    expect(sidecar?.securityContext?.runAsUser).toBe(65532);
    expect(sidecar?.env).toEqual([{ name: 'AZURE_CLIENT_ID', value: '11111111-2222-3333-4444-555555555555' }]);

    const otherNs = keyVaultIdentity({ ...keyVaultIdentitySpec(), type: 'podIdentity', allowedNamespaces: { names: ['bank'] } }, 'shared');
    const e = denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'pi' } }), view([pi], {}, [otherNs])));
    expect(e.reason).toBe('IdentityNotGranted');
    expect(e.message).toContain('namespace "shop"');
    expect(denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'pi' } }), view([pi]))).message).toContain('KeyVaultIdentity "shared", which does not exist');
  });

  it('mounts several KeyVaultSyncs with one sidecar each, in subdirectories, on distinct ready ports', async () => {
    const other = keyVaultSync({ vault: { name: 'kv1', tenantID: 't' }, identity: { workloadIdentity: { serviceAccountName: 'x', clientID: CLIENT } }, objects: [{ name: 'x', type: 'secret' }] }, 'other', NS);
    const after = await patched(pod({ annotations: { 'kvsync.dev/mount': 'shop, other' }, spec: { serviceAccountName: 'shop' } }), view([shop, other], sa));
    const init = after.spec?.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual(['kvsync-mount-shop', 'kvsync-mount-other']);
    expect(init.map((c) => argOf(c, '--dir'))).toEqual(['/mnt/secrets-store/shop', '/mnt/secrets-store/other']);
    expect(init.map((c) => argOf(c, '--ready-port'))).toEqual(['9808', '9809']);
  });

  it('takes ready ports no container of the pod declares', async () => {
    const other = keyVaultSync({ vault: { name: 'kv1', tenantID: 't' }, identity: { workloadIdentity: { serviceAccountName: 'x', clientID: CLIENT } }, objects: [{ name: 'x', type: 'secret' }] }, 'other', NS);
    const after = await patched(
      pod({ annotations: { 'kvsync.dev/mount': 'shop,other' }, containers: [{ name: 'a', ports: [{ containerPort: 9808 }, { containerPort: 9810 }] }], spec: { serviceAccountName: 'shop' } }),
      view([shop, other], sa),
    );
    const init = after.spec?.initContainers ?? [];
    expect(init.map((c) => argOf(c, '--ready-port'))).toEqual(['9809', '9811']);
    expect(init.map((c) => c.startupProbe?.httpGet?.port)).toEqual([9809, 9811]);
    expect(after.spec?.volumes?.map((v) => v.name)).toEqual(['kvsync-secrets-store', 'kvsync-azure-identity-token']);
  });

  it('denies a missing KeyVaultSync, a bad path, a clashing mount path and a servicePrincipal identity', async () => {
    expect(denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'nope' } }))).reason).toBe('KeyVaultSyncNotFound');
    expect(denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'shop', 'kvsync.dev/mount-path': 'rel/path' } }))).reason).toBe('InvalidReference');
    const e = denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'shop' }, containers: [{ name: 'a', volumeMounts: [{ name: 'data', mountPath: '/mnt/secrets-store' }] }], spec: { serviceAccountName: 'shop' } }), view([shop], sa)));
    expect(e.reason).toBe('MountConflict');
    const sp = keyVaultSync({ vault: { name: 'kv1', tenantID: 't' }, identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } }, objects: [{ name: 'a', type: 'secret' }] }, 'sp', NS);
    const d = denial(await run(pod({ annotations: { 'kvsync.dev/mount': 'sp' } }), view([sp])));
    expect(d.reason).toBe('IdentityUnavailable');
    expect(d.message).toContain('servicePrincipal');
  });
});

/**
 * The pure pod mutation of the admission webhook: from a Pod (as the AdmissionReview carries it), its
 * namespace and a read-only view of the cluster to a JSON Patch (RFC 6902), "untouched", or a denial.
 *
 * Rules (docs/pods.md has the user's view):
 * - opt-in only: namespace or pod label `kvsync.dev/inject: enabled`; never kube-system or the
 *   operator's namespace. A pod that did not opt in gets no patch at all.
 * - env: `kvsync:<kvs>/<alias>` (or, for migration, akv2k8s' `<name>@azurekeyvault[?key]`) becomes a
 *   `secretKeyRef` on the Secret the KeyVaultSync declares for that alias. The webhook does NOT make
 *   up Secrets: a KeyVaultSync without a secretObjects entry for the alias is a denial, so what the pod
 *   reads is always something the user declared and `kubectl get secret` shows.
 * - `kvsync.dev/env-from: <kvs>` adds an `envFrom` per Secret of that KeyVaultSync to every app container.
 * - `kvsync.dev/mount: <kvs>[,<kvs>]` adds an in-memory emptyDir, the `kvsync mount` native sidecar
 *   (given the resolved spec as JSON, so it needs no Kubernetes API access), the workload-identity
 *   token volume when the pod's identity is federated, and a read-only mount into every app container.
 *
 * Idempotent: the result of mutating an already mutated pod is an empty patch (reinvocation). No side
 * effects, so dry-run needs nothing special.
 */
import type { V1Container, V1EnvVar, V1OwnerReference, V1Pod, V1Volume } from '@kubernetes/client-node';
import { AUTHORITY_HOSTS, AZURE_VAULT_HOSTS_ONLY, sharedIdentityDenial } from '../api/index.ts';
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, VaultHostPolicy } from '../api/index.ts';
import { writeRight } from '../api/secret-ownership.ts';
import { PodDeniedError } from './errors.ts';
import {
  AKV2K8S_SUFFIX,
  DEFAULT_MOUNT_PATH,
  ENV_FROM_ANNOTATION,
  ENV_REF_PREFIX,
  INJECT_ENABLED,
  INJECT_LABEL,
  MOUNT_ANNOTATION,
  MOUNT_PATH_ANNOTATION,
  SA_CLIENT_ID_ANNOTATION,
  SA_TENANT_ID_ANNOTATION,
  SECRETS_VOLUME,
  SIDECAR_NAME,
  TOKEN_AUDIENCE,
  TOKEN_DIR,
  TOKEN_FILE,
  TOKEN_VOLUME,
} from './names.ts';

/** What a lookup of a KeyVaultSync found. */
export type KeyVaultSyncLookup =
  /** `object` is the stored KeyVaultSync (what `kvsync mount --spec-json` is given). */
  | { kind: 'found'; sync: ResolvedKeyVaultSync; object: unknown }
  | { kind: 'invalid'; message: string }
  | { kind: 'missing' };

/** What a lookup of a (cluster-scoped) KeyVaultIdentity found. */
export type KeyVaultIdentityLookup = { kind: 'found'; identity: ResolvedKeyVaultIdentity } | { kind: 'invalid'; message: string } | { kind: 'missing' };

/**
 * The cluster state the mutation reads. The server implements it on the Kubernetes API (or the
 * controller on its informer caches). Errors thrown here are infrastructure failures, not denials.
 */
export interface ClusterView {
  getKeyVaultSync(namespace: string, name: string): Promise<KeyVaultSyncLookup>;
  /** Annotations of a ServiceAccount, or undefined when it does not exist. */
  getServiceAccountAnnotations(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  getKeyVaultIdentity(name: string): Promise<KeyVaultIdentityLookup>;
  /**
   * The ownership metadata and type of a Secret, or undefined when it does not exist. Without it the
   * webhook cannot tell a look-alike Secret from the KeyVaultSync's own and points pods at either.
   */
  getSecretOwnership?(namespace: string, name: string): Promise<SecretOwnershipView | undefined>;
}

/** What ownership of a Secret is proven by (never its data). */
export interface SecretOwnershipView {
  metadata?: { annotations?: Record<string, string> | undefined; ownerReferences?: V1OwnerReference[] | undefined } | undefined;
  type?: string | undefined;
}

export interface MutationOptions {
  /** The operator's namespace: never mutated. */
  operatorNamespace: string;
  /** Image of the `kvsync mount` sidecar. */
  sidecarImage: string;
  /**
   * The operator's vault host policy (as the controller's): KeyVaultIdentity grants are decided on
   * the vault's canonical URL with it, and the sidecar is given its `--allowed-vault-hosts`. Default:
   * Azure's Key Vault hosts only.
   */
  vaults?: VaultHostPolicy;
  /** Entrypoint of the kvsync binary in that image; default `['kvsync']`. */
  sidecarCommand?: string[];
  /**
   * A ConfigMap (in each pod's namespace) holding extra CA certificates the sidecar trusts for Entra ID
   * and Key Vault, e.g. a TLS-inspecting proxy's or a private cloud's; mounted optional, so a
   * namespace without it changes nothing. Default: Node's own trust store only.
   */
  sidecarCaConfigMap?: { name: string; key: string };
  /** Size limit of the in-memory volume; default 32Mi (it counts against the pod's memory). */
  volumeSizeLimit?: string;
  /**
   * First port for the sidecars' `/readyz` (the startupProbe); default 9808. Each sidecar takes the
   * next port no container of the pod declares.
   */
  readyPort?: number;
}

export interface MutationRequest {
  pod: V1Pod;
  /** The AdmissionReview's namespace (the pod's metadata.namespace may be empty on CREATE). */
  namespace: string;
  namespaceLabels: Record<string, string>;
}

export interface JsonPatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export type MutationResult =
  | { kind: 'untouched'; why: string }
  /** `patch` is empty when the pod already carries every mutation. */
  | { kind: 'patch'; patch: JsonPatchOperation[] }
  | { kind: 'denied'; error: PodDeniedError };

/** The sidecar's extra CA certificates (MutationOptions.sidecarCaConfigMap): volume and folder. */
const CA_VOLUME = 'kvsync-ca';
const CA_DIR = '/etc/kvsync/ca';

/** uid the sidecar runs as when the pod names none (or names root): distroless' `nonroot`. */
export const DEFAULT_SIDECAR_UID = 65532;

/**
 * A denial when the Pod names a namespace other than the AdmissionRequest's. The apiserver always
 * sends them equal (or the Pod's empty); anything else is a forged review, and the webhook answers
 * it without looking anything up, so it reveals nothing about another namespace.
 */
export function foreignNamespaceDenial(requestNamespace: string, pod: V1Pod): PodDeniedError | undefined {
  const podNamespace = pod.metadata?.namespace;
  if (podNamespace === undefined || podNamespace === '' || podNamespace === requestNamespace) return undefined;
  return new PodDeniedError('CrossNamespaceReference', `the Pod names namespace "${podNamespace}", but the admission request is for namespace "${requestNamespace}"`);
}

/** Whether the webhook may touch a pod at all. */
export function optedIn(namespace: string, namespaceLabels: Record<string, string>, podLabels: Record<string, string>, operatorNamespace: string): boolean {
  if (namespace === 'kube-system' || namespace === operatorNamespace) return false;
  return namespaceLabels[INJECT_LABEL] === INJECT_ENABLED || podLabels[INJECT_LABEL] === INJECT_ENABLED;
}

/** A parsed env reference. `namespace` is set only for the `kvsync:<ns>/<kvs>/<alias>` form. */
export interface EnvReference {
  form: 'kvsync' | 'akv2k8s';
  namespace: string | undefined;
  sync: string;
  /** kvsync form: the object alias. */
  alias: string | undefined;
  /** akv2k8s form: the `?key` query (a Secret key such as `tls.key`). */
  key: string | undefined;
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const AKV2K8S = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)@azurekeyvault(?:\?(.+))?$/;

/**
 * Parses an env value. Returns undefined for a value that is not a reference at all (left alone).
 * @throws PodDeniedError `InvalidReference` for a `kvsync:` value that is malformed.
 */
export function parseEnvReference(value: string): EnvReference | undefined {
  if (value.startsWith(ENV_REF_PREFIX)) {
    const parts = value.slice(ENV_REF_PREFIX.length).split('/');
    const bad = (): PodDeniedError =>
      new PodDeniedError('InvalidReference', `env value "${value}" is not a kvsync reference: expected kvsync:<keyvaultsync>/<alias>`);
    if (parts.some((p) => p === '')) throw bad();
    if (parts.length === 2) {
      const [sync = '', alias = ''] = parts;
      if (!DNS_NAME.test(sync)) throw bad();
      return { form: 'kvsync', namespace: undefined, sync, alias, key: undefined };
    }
    if (parts.length === 3) {
      const [namespace = '', sync = '', alias = ''] = parts;
      if (!DNS_NAME.test(sync) || !DNS_NAME.test(namespace)) throw bad();
      return { form: 'kvsync', namespace, sync, alias, key: undefined };
    }
    throw bad();
  }
  if (value.includes(AKV2K8S_SUFFIX)) {
    const m = AKV2K8S.exec(value);
    if (m === null) return undefined;
    return { form: 'akv2k8s', namespace: undefined, sync: m[1] ?? '', alias: undefined, key: m[3] };
  }
  return undefined;
}

/** Splits a comma-separated annotation into KeyVaultSync names. @throws PodDeniedError */
function syncNamesOf(annotation: string, value: string): { namespace: string | undefined; name: string }[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new PodDeniedError('InvalidReference', `annotation ${annotation} names no KeyVaultSync`);
  return names.map((n) => {
    const parts = n.split('/');
    const [a = '', b] = parts;
    if (parts.length > 2 || !parts.every((p) => DNS_NAME.test(p))) {
      throw new PodDeniedError('InvalidReference', `annotation ${annotation}: "${n}" is not a KeyVaultSync name`);
    }
    return b === undefined ? { namespace: undefined, name: a } : { namespace: a, name: b };
  });
}

/** Fetches each KeyVaultSync once per admission and turns lookups into denials. */
class SyncResolver {
  private readonly cache = new Map<string, Promise<KeyVaultSyncLookup>>();
  private readonly view: ClusterView;
  private readonly namespace: string;
  constructor(view: ClusterView, namespace: string) {
    this.view = view;
    this.namespace = namespace;
  }

  /** @throws PodDeniedError when the reference crosses namespaces, or the KeyVaultSync is missing or invalid. */
  async get(name: string, refNamespace: string | undefined, where: string): Promise<ResolvedKeyVaultSync> {
    return (await this.getStored(name, refNamespace, where)).sync;
  }

  /** As {@link get}, with the stored object. */
  async getStored(name: string, refNamespace: string | undefined, where: string): Promise<{ sync: ResolvedKeyVaultSync; object: unknown }> {
    if (refNamespace !== undefined && refNamespace !== this.namespace) {
      throw new PodDeniedError(
        'CrossNamespaceReference',
        `${where} refers to KeyVaultSync "${name}" in namespace "${refNamespace}"; a pod may only use KeyVaultSyncs of its own namespace "${this.namespace}"`,
      );
    }
    let pending = this.cache.get(name);
    if (pending === undefined) {
      pending = this.view.getKeyVaultSync(this.namespace, name);
      this.cache.set(name, pending);
    }
    const found = await pending;
    if (found.kind === 'missing') {
      throw new PodDeniedError('KeyVaultSyncNotFound', `${where} refers to KeyVaultSync "${name}", which does not exist in namespace "${this.namespace}"`);
    }
    if (found.kind === 'invalid') {
      throw new PodDeniedError('KeyVaultSyncInvalid', `${where} refers to KeyVaultSync "${name}" in namespace "${this.namespace}", whose spec is invalid: ${found.message}`);
    }
    return found;
  }

  /**
   * Refuses a pod pointed at a Secret of KeyVaultSync `name` that exists but that kvsync neither
   * created for it nor may merge into: its keys would come from whoever made the look-alike.
   * @throws PodDeniedError `SecretNotOwned`
   */
  async assertOwned(name: string, refNamespace: string | undefined, secretName: string, where: string): Promise<void> {
    const { sync, object } = await this.getStored(name, refNamespace, where);
    const existing = await this.view.getSecretOwnership?.(this.namespace, secretName);
    if (existing === undefined) return;
    const uid = (object as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
    const policy = sync.secrets.find((s) => s.name === secretName)?.creationPolicy ?? 'Owner';
    const right = writeRight('Secret', secretName, existing, { name, namespace: this.namespace, uid: typeof uid === 'string' ? uid : '' }, policy);
    if (!right.write) throw new PodDeniedError('SecretNotOwned', `${where}: ${right.message}`);
  }
}

/** The Secret and key a reference resolves to. @throws PodDeniedError `AliasNotFound` */
export function secretKeyFor(sync: ResolvedKeyVaultSync, ref: EnvReference, where: string): { name: string; key: string } {
  const syncName = sync.name ?? '';
  if (ref.form === 'akv2k8s' && ref.key !== undefined) {
    for (const s of sync.secrets) {
      const e = s.entries.find((x) => x.kind === 'key' && x.key === ref.key);
      if (e !== undefined) return { name: s.name, key: ref.key };
    }
    throw new PodDeniedError('AliasNotFound', `${where}: KeyVaultSync "${syncName}" declares no Secret key "${ref.key}" (secretObjects[].data[].key)`);
  }
  let alias = ref.alias;
  if (alias === undefined) {
    // akv2k8s without ?key: an AzureKeyVaultSecret holds one object, so must the KeyVaultSync.
    const only = sync.objects.length === 1 ? sync.objects[0] : undefined;
    if (only === undefined) {
      throw new PodDeniedError('AliasNotFound', `${where}: KeyVaultSync "${syncName}" has ${sync.objects.length} objects; add ?<key> to say which Secret key to use`);
    }
    alias = only.outputName;
  }
  let fallback: { name: string; key: string } | undefined;
  for (const s of sync.secrets) {
    for (const e of s.entries) {
      if (e.kind !== 'key' || e.object !== alias) continue;
      if (e.part === 'content') return { name: s.name, key: e.key };
      fallback ??= { name: s.name, key: e.key };
    }
  }
  if (fallback !== undefined) return fallback;
  throw new PodDeniedError(
    'AliasNotFound',
    `${where}: KeyVaultSync "${syncName}" has no Secret entry for alias "${alias}"; add it to spec.secretObjects[].data (objectName: ${alias})`,
  );
}

/** Rewrites the env references of one container in place. */
async function rewriteEnv(c: V1Container, kind: string, resolver: SyncResolver): Promise<void> {
  if (c.env === undefined) return;
  const out: V1EnvVar[] = [];
  for (const e of c.env) {
    const ref = typeof e.value === 'string' ? parseEnvReference(e.value) : undefined;
    if (ref === undefined) {
      out.push(e);
      continue;
    }
    const where = `${kind} "${c.name}" env ${e.name}`;
    const sync = await resolver.get(ref.sync, ref.namespace, where);
    const target = secretKeyFor(sync, ref, where);
    await resolver.assertOwned(ref.sync, ref.namespace, target.name, where);
    out.push({ name: e.name, valueFrom: { secretKeyRef: { name: target.name, key: target.key } } });
  }
  c.env = out;
}

/**
 * The sidecar's Azure environment for one KeyVaultSync: always the pod's own identity, never the
 * operator's (docs/mount.md "Identity").
 * @throws PodDeniedError when the pod has no usable identity for it.
 */
async function sidecarIdentity(
  sync: ResolvedKeyVaultSync,
  ctx: { namespace: string; namespaceLabels: Record<string, string>; saName: string; saAnnotations: Record<string, string> | undefined; view: ClusterView; vaults: VaultHostPolicy },
): Promise<{ env: V1EnvVar[]; needsToken: boolean }> {
  const syncName = sync.name ?? '';
  const authorityHost = AUTHORITY_HOSTS[sync.vault.cloudName];
  const id = sync.identity;
  switch (id.mode) {
    case 'workloadIdentity': {
      // The token is the pod's ServiceAccount's, so the client ID federated with it is the SA's.
      const sa = ctx.saAnnotations ?? {};
      const clientID = sa[SA_CLIENT_ID_ANNOTATION] ?? id.clientID;
      if (clientID === undefined) {
        throw new PodDeniedError(
          'IdentityUnavailable',
          `annotation ${MOUNT_ANNOTATION}: KeyVaultSync "${syncName}" uses workload identity, but the pod's ServiceAccount "${ctx.saName}" has no ${SA_CLIENT_ID_ANNOTATION} annotation and the KeyVaultSync sets no clientID`,
        );
      }
      const tenantID = sa[SA_TENANT_ID_ANNOTATION] ?? sync.vault.tenantID;
      return {
        needsToken: true,
        env: [
          { name: 'AZURE_CLIENT_ID', value: clientID },
          ...(tenantID === undefined ? [] : [{ name: 'AZURE_TENANT_ID', value: tenantID }]),
          { name: 'AZURE_FEDERATED_TOKEN_FILE', value: `${TOKEN_DIR}/${TOKEN_FILE}` },
          { name: 'AZURE_AUTHORITY_HOST', value: authorityHost },
        ],
      };
    }
    case 'podIdentity':
    case 'managedIdentity': {
      // The KeyVaultIdentity fence (namespace and vault) is checked here: the sidecar cannot read it.
      if (id.identityRef === undefined) {
        throw new PodDeniedError('IdentityUnavailable', `annotation ${MOUNT_ANNOTATION}: KeyVaultSync "${syncName}" must name its KeyVaultIdentity (identity.${id.mode}.identityRef) to be mounted`);
      }
      const found = await ctx.view.getKeyVaultIdentity(id.identityRef);
      if (found.kind !== 'found') {
        throw new PodDeniedError('IdentityUnavailable', `annotation ${MOUNT_ANNOTATION}: KeyVaultSync "${syncName}" uses KeyVaultIdentity "${id.identityRef}", which ${found.kind === 'missing' ? 'does not exist' : `is invalid: ${found.message}`}`);
      }
      const granted: ResolvedKeyVaultIdentity = found.identity;
      // The controller's own check (same function): type, namespace, vault and a named client ID.
      const denial = sharedIdentityDenial(granted, { mode: id.mode, clientID: id.clientID }, { name: ctx.namespace, labels: ctx.namespaceLabels }, sync.vault, ctx.vaults);
      if (denial !== undefined) throw new PodDeniedError('IdentityNotGranted', `annotation ${MOUNT_ANNOTATION}: ${denial}`);
      return { needsToken: false, env: [{ name: 'AZURE_CLIENT_ID', value: granted.spec.clientID }] };
    }
    case 'servicePrincipal':
      throw new PodDeniedError(
        'IdentityUnavailable',
        `annotation ${MOUNT_ANNOTATION}: KeyVaultSync "${syncName}" uses a servicePrincipal, whose secret the sidecar cannot read; use workload identity for mounted KeyVaultSyncs`,
      );
  }
}

/** What `kvsync mount --spec-json` gets: the stored KeyVaultSync without status or server fields. */
function specForSidecar(object: unknown, sync: ResolvedKeyVaultSync, namespace: string): string {
  const spec = typeof object === 'object' && object !== null && 'spec' in object ? (object).spec : undefined;
  return JSON.stringify({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: sync.name, namespace }, spec });
}

/** Our sidecars: `kvsync-mount`, or `kvsync-mount-<kvs>` when several KeyVaultSyncs are mounted. */
function isSidecar(c: V1Container): boolean {
  return c.name === SIDECAR_NAME || c.name.startsWith(`${SIDECAR_NAME}-`);
}

/**
 * Reads the pod's mount annotations, resolves the KeyVaultSyncs and adds the volume, one sidecar per
 * KeyVaultSync (`kvsync mount` writes one KeyVaultSync per directory; with several, each gets the
 * subdirectory `<mount-path>/<name>`), the token volume, and the read-only mounts.
 */
async function addMount(pod: PodWithSpec, req: MutationRequest, value: string, resolver: SyncResolver, view: ClusterView, opts: MutationOptions): Promise<void> {
  const spec = pod.spec;
  const namespace = req.namespace;
  const annotations = pod.metadata?.annotations ?? {};
  const mountPath = (annotations[MOUNT_PATH_ANNOTATION] ?? DEFAULT_MOUNT_PATH).trim().replace(/(.)\/+$/, '$1');
  if (!mountPath.startsWith('/') || mountPath.includes(':') || mountPath.split('/').includes('..')) {
    throw new PodDeniedError('InvalidReference', `annotation ${MOUNT_PATH_ANNOTATION}: "${mountPath}" must be an absolute path without ".." or ":"`);
  }
  const refs = syncNamesOf(MOUNT_ANNOTATION, value);
  const several = refs.length > 1;
  const saName = spec.serviceAccountName ?? 'default';
  const saAnnotations = await view.getServiceAccountAnnotations(namespace, saName);
  const podSc = spec.securityContext ?? {};
  // Non-root always: the pod's uid when it has a non-root one, so the files belong to the app's user.
  const uid = podSc.runAsUser !== undefined && podSc.runAsUser !== 0 ? podSc.runAsUser : DEFAULT_SIDECAR_UID;
  const gid = podSc.runAsGroup !== undefined && podSc.runAsGroup !== 0 ? podSc.runAsGroup : uid;
  const command = opts.sidecarCommand ?? ['kvsync'];
  const vaults = opts.vaults ?? AZURE_VAULT_HOSTS_ONLY;
  // The sidecar resolves the spec again itself: with the same host patterns, to the same vault.
  const vaultArgs = vaults.allowedVaultHosts.length === 0 ? [] : ['--allowed-vault-hosts', vaults.allowedVaultHosts.join(',')];
  // Ready ports: from readyPort up, skipping ports the pod's other containers declare (one netns).
  const taken = new Set([...spec.containers, ...(spec.initContainers ?? []).filter((c) => !isSidecar(c))].flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
  let nextPort = opts.readyPort ?? 9808;
  const freePort = (): number => {
    while (taken.has(nextPort)) nextPort++;
    return nextPort++;
  };

  const sidecars: V1Container[] = [];
  let needsToken = false;
  for (const [i, ref] of refs.entries()) {
    const { sync, object } = await resolver.getStored(ref.name, ref.namespace, `annotation ${MOUNT_ANNOTATION}`);
    const name = several ? `${SIDECAR_NAME}-${ref.name}` : SIDECAR_NAME;
    if (name.length > 63) throw new PodDeniedError('MountConflict', `annotation ${MOUNT_ANNOTATION}: KeyVaultSync name "${ref.name}" is too long for a container name when several are mounted`);
    const identity = await sidecarIdentity(sync, { namespace, namespaceLabels: req.namespaceLabels, saName, saAnnotations, view, vaults });
    needsToken ||= identity.needsToken;
    const dir = several ? `${mountPath === '/' ? '' : mountPath}/${ref.name}` : mountPath;
    const port = freePort();
    const probe = { httpGet: { path: '/readyz', port } };
    sidecars.push({
      name,
      image: opts.sidecarImage,
      command,
      args: ['mount', '--spec-json', specForSidecar(object, sync, namespace), '--dir', dir, '--ready-port', String(port), ...vaultArgs],
      // Native sidecar: started before the app containers, kept running, stopped after them.
      restartPolicy: 'Always',
      env: [...identity.env, ...(opts.sidecarCaConfigMap === undefined ? [] : [{ name: 'NODE_EXTRA_CA_CERTS', value: `${CA_DIR}/${opts.sidecarCaConfigMap.key}` }])],
      ports: [{ name: `kvsync-ready-${i}`, containerPort: port, protocol: 'TCP' }],
      volumeMounts: [
        { name: SECRETS_VOLUME, mountPath },
        ...(identity.needsToken ? [{ name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true }] : []),
        ...(opts.sidecarCaConfigMap === undefined ? [] : [{ name: CA_VOLUME, mountPath: CA_DIR, readOnly: true }]),
      ],
      // The kubelet starts the app containers only once this succeeds: after the first complete write.
      startupProbe: { ...probe, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 300 },
      readinessProbe: { ...probe, periodSeconds: 10, timeoutSeconds: 2 },
      resources: { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '192Mi' } },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: gid,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      },
    });
  }

  // Ours first (before the other init containers, so those can read the files too), in order.
  spec.initContainers = [...sidecars, ...(spec.initContainers ?? []).filter((c) => !isSidecar(c))];

  const volumes: V1Volume[] = [
    { name: SECRETS_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: opts.volumeSizeLimit ?? '32Mi' } },
    ...(needsToken
      ? [{ name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 3600, path: TOKEN_FILE } }] } }]
      : []),
    ...(opts.sidecarCaConfigMap === undefined
      ? []
      : [{ name: CA_VOLUME, configMap: { name: opts.sidecarCaConfigMap.name, optional: true, items: [{ key: opts.sidecarCaConfigMap.key, path: opts.sidecarCaConfigMap.key }] } }]),
  ];
  const existing = (spec.volumes ?? []).filter((v) => v.name !== TOKEN_VOLUME || needsToken);
  for (const v of volumes) {
    const i = existing.findIndex((x) => x.name === v.name);
    if (i >= 0) existing[i] = v;
    else existing.push(v);
  }
  spec.volumes = existing;

  for (const c of spec.containers) {
    const mounts = c.volumeMounts ?? [];
    const clash = mounts.find((m) => m.mountPath === mountPath && m.name !== SECRETS_VOLUME);
    if (clash !== undefined) {
      throw new PodDeniedError('MountConflict', `container "${c.name}" already mounts volume "${clash.name}" at ${mountPath}; set annotation ${MOUNT_PATH_ANNOTATION} to another path`);
    }
    const mine = mounts.findIndex((m) => m.name === SECRETS_VOLUME);
    const mount = { name: SECRETS_VOLUME, mountPath, readOnly: true };
    if (mine >= 0) mounts[mine] = mount;
    else mounts.push(mount);
    c.volumeMounts = mounts;
  }
}

type PodWithSpec = V1Pod & { spec: NonNullable<V1Pod['spec']> };

/** The mutated copy of the pod. @throws PodDeniedError */
async function mutated(pod: PodWithSpec, req: MutationRequest, view: ClusterView, opts: MutationOptions): Promise<PodWithSpec> {
  const namespace = req.namespace;
  const out = structuredClone(pod);
  const resolver = new SyncResolver(view, namespace);
  for (const c of out.spec.containers) await rewriteEnv(c, 'container', resolver);
  for (const c of out.spec.initContainers ?? []) if (!isSidecar(c)) await rewriteEnv(c, 'initContainer', resolver);

  const annotations = out.metadata?.annotations ?? {};
  const envFrom = annotations[ENV_FROM_ANNOTATION];
  if (envFrom !== undefined) {
    for (const ref of syncNamesOf(ENV_FROM_ANNOTATION, envFrom)) {
      const sync = await resolver.get(ref.name, ref.namespace, `annotation ${ENV_FROM_ANNOTATION}`);
      for (const s of sync.secrets) await resolver.assertOwned(ref.name, ref.namespace, s.name, `annotation ${ENV_FROM_ANNOTATION}`);
      for (const c of out.spec.containers) {
        const sources = c.envFrom ?? [];
        for (const s of sync.secrets) {
          if (!sources.some((x) => x.secretRef?.name === s.name && x.prefix === undefined)) sources.push({ secretRef: { name: s.name } });
        }
        if (sources.length > 0) c.envFrom = sources;
      }
    }
  }
  const mount = annotations[MOUNT_ANNOTATION];
  if (mount !== undefined) await addMount(out, req, mount, resolver, view, opts);
  return out;
}

function hasSpec(pod: V1Pod): pod is V1Pod & { spec: NonNullable<V1Pod['spec']> } {
  return typeof pod.spec === 'object' && pod.spec !== null && Array.isArray(pod.spec.containers);
}

/**
 * Decides what happens to a pod on CREATE. Never throws a PodDeniedError (it is returned); rethrows
 * what the ClusterView throws (the server answers those with an error, and the failure policy decides).
 */
export async function mutatePod(req: MutationRequest, view: ClusterView, opts: MutationOptions): Promise<MutationResult> {
  const foreign = foreignNamespaceDenial(req.namespace, req.pod);
  if (foreign !== undefined) return { kind: 'denied', error: foreign };
  const podLabels = req.pod.metadata?.labels ?? {};
  if (!optedIn(req.namespace, req.namespaceLabels, podLabels, opts.operatorNamespace)) {
    return { kind: 'untouched', why: 'the pod did not opt in' };
  }
  const pod = req.pod;
  if (!hasSpec(pod)) return { kind: 'untouched', why: 'the pod has no containers' };
  let after: V1Pod & { spec: NonNullable<V1Pod['spec']> };
  try {
    after = await mutated(pod, req, view, opts);
  } catch (err) {
    if (err instanceof PodDeniedError) return { kind: 'denied', error: err };
    throw err;
  }
  // Whole-field `add` operations (RFC 6902 add replaces an existing member): simple, exact, and empty
  // when nothing changed.
  const patch: JsonPatchOperation[] = [];
  for (const field of ['containers', 'initContainers', 'volumes'] as const) {
    if (JSON.stringify(pod.spec[field]) !== JSON.stringify(after.spec[field])) {
      patch.push({ op: 'add', path: `/spec/${field}`, value: after.spec[field] });
    }
  }
  return { kind: 'patch', patch };
}

/**
 * The chart's RBAC for `kvsync dev`: charts/kvsync rendered by helm, its ServiceAccount, ClusterRoles,
 * Role and bindings applied by server-side apply, and a kubeconfig authenticated as that
 * ServiceAccount (a TokenRequest token), so the demo's controller runs with exactly what an install
 * grants rather than with the admin's credentials.
 */
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { runHelm, type HelmBinary } from './helm.ts';

const CHART_DIR = fileURLToPath(new URL('../../charts/kvsync/', import.meta.url));
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
const FIELD_MANAGER = 'kvsync-dev';

export interface ChartRbac {
  /** `namespace/name` of the ServiceAccount. */
  serviceAccount: string;
  /** `Kind name` of each object applied. */
  objects: string[];
  /** Authenticates as the ServiceAccount (token valid for `tokenSeconds`). */
  kubeConfig: k8s.KubeConfig;
  /** Deletes the applied objects (an existing cluster is left as it was found). */
  remove(): Promise<void>;
}

export interface ChartRbacOptions {
  helm: HelmBinary;
  release: string;
  /** The release (operator) namespace; must exist. */
  namespace: string;
  /** Chart values as `--set` pairs, e.g. `{ watchNamespace: 'shop' }`. */
  set?: Record<string, string>;
  /** Lifetime of the ServiceAccount token (default 24 h; the apiserver may shorten it). */
  tokenSeconds?: number;
}

/**
 * Renders the chart, applies its RBAC objects with the admin kubeconfig `admin`, and requests a token
 * for its ServiceAccount.
 * @throws HelmError when helm fails; ApiException when the apiserver refuses an object
 */
export async function installChartRbac(admin: k8s.KubeConfig, opts: ChartRbacOptions): Promise<ChartRbac> {
  const set = Object.entries(opts.set ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const manifest = await runHelm(opts.helm, ['template', opts.release, CHART_DIR, '--namespace', opts.namespace, ...set]);
  const objects = parseAllDocuments(manifest)
    .map((d) => d.toJS() as k8s.KubernetesObject | null)
    .filter((o): o is k8s.KubernetesObject => o !== null && RBAC_KINDS.has(o.kind ?? ''));
  const api = k8s.KubernetesObjectApi.makeApiClient(admin);
  const applied: k8s.KubernetesObject[] = [];
  for (const obj of objects) {
    await api.patch(k8s.loadYaml<k8s.KubernetesObject>(JSON.stringify(obj)), undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    applied.push(obj);
  }
  const sa = objects.find((o) => o.kind === 'ServiceAccount')?.metadata?.name;
  if (sa === undefined) throw new Error('the chart rendered no ServiceAccount');
  const tr = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    namespace: opts.namespace,
    name: sa,
    body: { spec: { audiences: [], expirationSeconds: opts.tokenSeconds ?? 24 * 3600 } },
  });
  const token = tr.status?.token ?? '';
  if (token === '') throw new Error(`TokenRequest for ${opts.namespace}/${sa} returned no token`);
  return {
    serviceAccount: `${opts.namespace}/${sa}`,
    objects: applied.map((o) => `${o.kind ?? ''} ${o.metadata?.name ?? ''}`),
    kubeConfig: serviceAccountKubeConfig(admin, `system:serviceaccount:${opts.namespace}:${sa}`, token),
    async remove() {
      for (const obj of applied.reverse()) {
        await api.delete(obj).catch((err: unknown) => {
          if (!(err instanceof k8s.ApiException && err.code === 404)) throw err;
        });
      }
    },
  };
}

/** The admin kubeconfig's current cluster (server, CA, TLS settings) with a bearer-token user instead. */
export function serviceAccountKubeConfig(admin: k8s.KubeConfig, user: string, token: string): k8s.KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig has no current cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'cluster' }],
    users: [{ name: user, token }],
    contexts: [{ name: 'serviceaccount', cluster: 'cluster', user }],
    currentContext: 'serviceaccount',
  });
  return kc;
}

/**
 * Helpers of the chart tests: helm (built from hack/helm, cached), rendering charts/kvsync into
 * objects, the chart's RBAC objects, and a kubeconfig that authenticates as a ServiceAccount.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { pinnedHelmVersion, runHelm, type HelmBinary } from '../../../src/dev/helm.ts';
import { goEnv } from '../../../src/dev/go-toolchain.ts';

const execFileAsync = promisify(execFile);

export const CHART_DIR = fileURLToPath(new URL('../../../charts/kvsync/', import.meta.url));

export interface Rendered extends k8s.KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta & { name: string };
  [field: string]: unknown;
}

/** The helm the global setup built from hack/helm. */
export async function helmBinary(): Promise<HelmBinary> {
  return { path: inject('helmBin'), version: await pinnedHelmVersion(), built: false };
}

/** `helm template` of charts/kvsync with these values (written to a file, so types survive). */
export async function renderChart(opts: { release: string; namespace: string; values?: Record<string, unknown>; dir: string; extraArgs?: string[] }): Promise<Rendered[]> {
  const valuesFile = join(opts.dir, `${opts.release}-values.yaml`);
  await writeFile(valuesFile, stringify(opts.values ?? {}));
  const out = await runHelm(await helmBinary(), ['template', opts.release, CHART_DIR, '--namespace', opts.namespace, '--values', valuesFile, ...(opts.extraArgs ?? [])]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Rendered | null)
    .filter((o): o is Rendered => o !== null && typeof o === 'object');
}

export function byKind(objects: readonly Rendered[], kind: string): Rendered[] {
  return objects.filter((o) => o.kind === kind);
}

export function oneOf(objects: readonly Rendered[], kind: string, name?: string): Rendered {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0] as Rendered;
}

/** The rendered controller container's args (Deployment → first container). */
export function controllerArgs(objects: readonly Rendered[]): string[] {
  const d = oneOf(objects, 'Deployment') as unknown as k8s.V1Deployment;
  return d.spec?.template.spec?.containers[0]?.args ?? [];
}

/**
 * The controller's args with `$(VAR)` expanded from the container env as kubelet does; a fieldRef
 * `metadata.name` becomes `podName`.
 */
export function expandAsKubelet(objects: readonly Rendered[], podName = 'kvsync-6f7d9c8b5-x2x4q'): string[] {
  const container = (oneOf(objects, 'Deployment') as unknown as k8s.V1Deployment).spec?.template.spec?.containers[0];
  const fields: Record<string, string> = { 'metadata.name': podName };
  const env = new Map((container?.env ?? []).map((e) => [e.name, e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '']));
  return (container?.args ?? []).map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env.get(name) ?? m));
}

export const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'] as const;

/** A kubeconfig for the apiserver that authenticates with a bearer token (a ServiceAccount's). */
export function tokenKubeConfig(server: string, caPem: string, token: string, user: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: 'sa', cluster: 'local', user }],
    currentContext: 'sa',
  });
  return kc;
}

/** A TokenRequest token for a ServiceAccount, made with the admin's credentials (1 h). */
export async function serviceAccountToken(admin: k8s.KubeConfig, namespace: string, name: string): Promise<string> {
  const tr = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tr.status?.token;
  if (token === undefined || token === '') throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

/**
 * prometheus-operator's ServiceMonitor CRD, from its Go module zip through the module proxy (4 MB,
 * cached in GOMODCACHE): the chart's ServiceMonitor is checked against the real schema.
 */
export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator@v0.85.0';
export async function serviceMonitorCrd(): Promise<Rendered> {
  const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', PROMETHEUS_OPERATOR_MODULE], { env: { ...goEnv(), GOFLAGS: '' }, timeout: 120_000 });
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  const text = await readFile(join(dir, 'example', 'prometheus-operator-crd', 'monitoring.coreos.com_servicemonitors.yaml'), 'utf8');
  return parseAllDocuments(text)[0]?.toJS() as Rendered;
}

/**
 * Server-side apply of one object; `dryRun` asks the apiserver to validate and admit it without
 * storing. `as` applies as another field manager without forcing (a conflict is a 409), as helm does.
 */
export async function apply(kc: k8s.KubeConfig, obj: Rendered, dryRun: boolean, as?: { fieldManager: string }): Promise<k8s.KubernetesObject> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  // client-node serialises by its typed models (xKubernetesIntOrString, not x-kubernetes-int-or-string):
  // load the wire-format object into its model first so nothing is dropped on the way out.
  const model = k8s.loadYaml<k8s.KubernetesObject>(JSON.stringify(obj));
  return api.patch(model, undefined, dryRun ? 'All' : undefined, as?.fieldManager ?? 'kvsync-chart-test', as === undefined, k8s.PatchStrategy.ServerSideApply);
}

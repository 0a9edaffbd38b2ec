/** Helpers of the node suite: clients for the cluster with a node, throwaway namespaces, pods run to completion. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { pollUntil } from '../../src/util/poll.ts';

const execFileAsync = promisify(execFile);

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('nodeKubeconfig'));
  return kc;
}

/** The image built from the Dockerfile, as loaded into the node. */
export function imageRef(): string {
  return `${inject('imageRepository')}:${inject('imageTag')}`;
}

/** Creates a namespace with a unique name (prefix + random suffix). */
export async function createNamespace(kc: k8s.KubeConfig, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name, labels: { 'kvsync.dev/test': 'true', ...labels } } } });
  return name;
}

export async function deleteNamespace(kc: k8s.KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name }).catch(() => {});
}

/** A restricted-profile container security context (non-root, read-only root, no capabilities). */
export const RESTRICTED: k8s.V1SecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * Creates a pod that runs to completion and returns its log once it Succeeded.
 * @throws Error with the pod's phase and container states when it fails or times out
 */
export async function runPodToCompletion(kc: k8s.KubeConfig, namespace: string, pod: k8s.V1Pod, timeoutMs = 120_000): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const created = await core.createNamespacedPod({ namespace, body: { ...pod, spec: { restartPolicy: 'Never', ...pod.spec } as k8s.V1PodSpec } });
  const name = created.metadata?.name ?? '';
  const done = await pollUntil(
    async () => {
      const p = await core.readNamespacedPod({ name, namespace });
      const phase = p.status?.phase;
      if (phase === 'Failed') {
        const log = await core.readNamespacedPodLog({ name, namespace }).catch(() => '');
        throw new PodFailed(`pod ${namespace}/${name} failed: ${JSON.stringify(p.status?.containerStatuses?.map((c) => c.state))}\n${log}`);
      }
      return phase === 'Succeeded' ? p : undefined;
    },
    { timeoutMs, intervalMs: 500, description: `pod ${namespace}/${name} to succeed`, isFatal: (e) => e instanceof PodFailed },
  );
  return core.readNamespacedPodLog({ name: done.metadata?.name ?? name, namespace });
}

class PodFailed extends Error {}

/** Paths of every file in a `docker save` archive's layers (no leading slash; folders end with `/`). */
export async function imageFiles(archive: string): Promise<{ files: Set<string>; config: { config?: { User?: string; Entrypoint?: string[]; Cmd?: string[] } } }> {
  const tarOut = async (...args: string[]): Promise<string> => (await execFileAsync('tar', args, { maxBuffer: 256 << 20 })).stdout;
  const manifest = JSON.parse(await tarOut('-xOf', archive, 'manifest.json')) as { Config: string; Layers: string[] }[];
  const image = manifest[0];
  if (image === undefined) throw new Error(`${archive} has no image`);
  const files = new Set<string>();
  for (const layer of image.Layers) {
    const { stdout } = await execFileAsync('sh', ['-c', 'tar -xOf "$0" "$1" | tar -t', archive, layer], { maxBuffer: 256 << 20 });
    for (const line of stdout.split('\n')) if (line !== '') files.add(line.replace(/^\.\//, ''));
  }
  return { files, config: JSON.parse(await tarOut('-xOf', archive, image.Config)) as { config?: { User?: string; Entrypoint?: string[]; Cmd?: string[] } } };
}

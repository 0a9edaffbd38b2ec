/** Helpers shared by integration tests: clients for the run's control plane and throwaway namespaces. */
import { inject } from 'vitest';
import * as k8s from '@kubernetes/client-node';

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

/** Creates a namespace with a unique name (prefix + random suffix) and returns its name. */
export async function createTestNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name, labels: { 'kvsync.dev/test': 'true' } } } });
  return name;
}

/** Deletes a namespace; the namespace controller finalises it in the background. */
export async function deleteTestNamespace(kc: k8s.KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name });
}

/** The HTTP status of a client-node ApiException, or undefined for anything else. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

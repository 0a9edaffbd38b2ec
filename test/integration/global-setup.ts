/**
 * Starts ONE real control plane (etcd + kube-apiserver + kube-controller-manager) for the whole
 * integration run and hands its coordinates to the test files through vitest's provide/inject.
 * The first run on a machine builds the binaries from Go modules (minutes); later runs reuse them.
 */
import type { TestProject } from 'vitest/node';
import { startControlPlane, type RunningControlPlane } from '../../src/dev/control-plane.ts';
import { ensureHelm } from '../../src/dev/helm.ts';

let controlPlane: RunningControlPlane | undefined;

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  controlPlane = await startControlPlane({ log: (line) => console.log(`[control-plane] ${line}`) });
  console.log(
    `[control-plane] integration tests talk to kube-apiserver ${controlPlane.version} at ${controlPlane.server} ` +
      `(etcd ${controlPlane.binaries.etcdVersion}; ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  project.provide('kubeconfig', controlPlane.kubeconfigPath);
  project.provide('kubeServer', controlPlane.server);
  project.provide('kubeVersion', controlPlane.version);
  project.provide('kubeCaPem', controlPlane.caPem);
  project.provide('serviceAccountIssuer', controlPlane.serviceAccountIssuer);
  project.provide('kubeBinDir', controlPlane.binaries.dir);
  // helm for the chart tests and `kvsync dev`, built once here (minutes when cold) rather than in several test files at once.
  const helm = await ensureHelm((line) => console.log(`[helm] ${line}`));
  project.provide('helmBin', helm.path);
}

export async function teardown(): Promise<void> {
  await controlPlane?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of an admin (system:masters) kubeconfig for the run's control plane. */
    kubeconfig: string;
    /** `https://127.0.0.1:<port>` */
    kubeServer: string;
    /** e.g. `v1.34.4` */
    kubeVersion: string;
    /** PEM of the CA of the apiserver's serving certificate. */
    kubeCaPem: string;
    /** `iss` of the apiserver's ServiceAccount tokens. */
    serviceAccountIssuer: string;
    /** Folder with kube-apiserver, kubectl, etcd, … */
    kubeBinDir: string;
    /** helm built from hack/helm (src/dev/helm.ts). */
    helmBin: string;
  }
}

/**
 * Starts ONE local cluster with a real node for the node suite (control plane, containerd, kubelet,
 * scheduler, kube-proxy, CoreDNS), builds the image with the container engine and loads it into the
 * node, then hands the coordinates to the test files. Every node test shares this cluster: starting
 * one costs about a minute, and the node is a machine-wide thing (one at a time).
 */
import type { TestProject } from 'vitest/node';
import { startCluster, type RunningCluster } from '../../src/dev/cluster.ts';
import { ensureHelm } from '../../src/dev/helm.ts';
import { buildImage } from '../../src/dev/image.ts';
import { loadIngressController } from '../../src/dev/ingress-controller.ts';

let cluster: RunningCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  cluster = await startCluster({ log: (line) => console.log(`[node] ${line}`) });
  console.log(`[node] cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${cluster.controlPlane.server}, node ${cluster.node.name}`);
  const image = await buildImage({ requireNode: true, log: (line) => console.log(`[image] ${line}`) });
  const helm = await ensureHelm((line) => console.log(`[helm] ${line}`));
  const ingress = await loadIngressController((line) => console.log(`[ingress] ${line}`));
  project.provide('nodeKubeconfig', cluster.controlPlane.kubeconfigPath);
  project.provide('nodeName', cluster.node.name);
  project.provide('nodeAddress', cluster.node.address);
  project.provide('nodeKubeBinDir', cluster.controlPlane.binaries.dir);
  project.provide('nodeServiceAccountIssuer', cluster.controlPlane.serviceAccountIssuer);
  project.provide('nodeCaFile', cluster.controlPlane.pkiFiles.servingCaCert ?? '');
  project.provide('nodeHelmBin', helm.path);
  project.provide('imageRepository', image.repository);
  project.provide('imageTag', image.tag);
  project.provide('imageArchive', image.archive);
  project.provide('ingressImage', ingress.image);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the cluster with a node. */
    nodeKubeconfig: string;
    nodeName: string;
    /** The node's InternalIP, also the address of cluster DNS and the apiserver. */
    nodeAddress: string;
    /** `iss` of the cluster's ServiceAccount tokens (what a federated credential names). */
    nodeServiceAccountIssuer: string;
    /** PEM file of the CA of the apiserver's serving certificate (the issuer's TLS). */
    nodeCaFile: string;
    /** kubectl and the control-plane binaries. */
    nodeKubeBinDir: string;
    nodeHelmBin: string;
    /** The kvsync image built from the Dockerfile and loaded into the node. */
    imageRepository: string;
    imageTag: string;
    /** Its `docker save` archive. */
    imageArchive: string;
    /** The ingress controller's image (Traefik), loaded into the node. */
    ingressImage: string;
  }
}

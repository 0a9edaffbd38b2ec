/**
 * A local cluster users can run pods on: the control plane (control-plane.ts) bound to the pod
 * bridge's address, plus one node (node.ts) with cluster DNS. `stop()` ends everything, node first.
 */
import { startControlPlane, type RunningControlPlane } from './control-plane.ts';
import { NODE_CONTROLLERS, POD_NETWORK, prepareNodeHost, startNode, type RunningNode } from './node.ts';

export interface ClusterOptions {
  /** Where to write the admin kubeconfig; default inside the control plane's state folder. */
  kubeconfigPath?: string;
  apiserverPort?: number;
  log?: (line: string) => void;
}

export interface RunningCluster {
  controlPlane: RunningControlPlane;
  node: RunningNode;
  stop(): Promise<void>;
}

/** Starts the control plane and the node; on failure stops whatever had started. */
export async function startCluster(opts: ClusterOptions = {}): Promise<RunningCluster> {
  const log = opts.log ?? (() => {});
  const host = await prepareNodeHost(log);
  let controlPlane: RunningControlPlane;
  try {
    controlPlane = await startControlPlane({
      address: POD_NETWORK.gateway,
      serviceCidr: POD_NETWORK.serviceCidr,
      extraControllers: NODE_CONTROLLERS,
      log,
      ...(opts.kubeconfigPath === undefined ? {} : { kubeconfigPath: opts.kubeconfigPath }),
      ...(opts.apiserverPort === undefined ? {} : { apiserverPort: opts.apiserverPort }),
    });
  } catch (err) {
    await host.release();
    throw err;
  }
  let node: RunningNode;
  try {
    node = await startNode(controlPlane, host, { log });
  } catch (err) {
    await controlPlane.stop();
    throw err;
  }
  return {
    controlPlane,
    node,
    async stop() {
      await node.stop();
      await controlPlane.stop();
    },
  };
}

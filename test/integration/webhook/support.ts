/** Shared set-up of the webhook integration tests that run `kvsync controller` with its webhook. */
import type * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startController, type RunningController } from '../../../src/controller/controller.ts';
import { loadAzureEnvironment } from '../../../src/keyvault/azure-environment.ts';

export interface WebhookControllerOptions {
  /** The emulator's endpoints.json. */
  endpointsFile: string;
  operatorNamespace: string;
  /** The one namespace the controller watches and the webhook configuration admits. */
  namespace: string;
  /** A unique MutatingWebhookConfiguration name, so parallel test files never intercept each other's pods. */
  configurationName: string;
  port: number;
  /** Default: the production `['kvsync']`. */
  sidecarCommand?: string[];
}

/**
 * Starts the controller in-process the way `kvsync controller --webhook-addr 127.0.0.1:<port>
 * --webhook-url https://127.0.0.1:<port>/mutate-pods` wires it, with the webhook's selectors confined
 * to `namespace`. Logs go to the console only with KVSYNC_TEST_LOG set.
 */
export async function startWebhookController(kc: k8s.KubeConfig, o: WebhookControllerOptions): Promise<RunningController> {
  return startController({
    kubeConfig: kc,
    azure: await loadAzureEnvironment({ endpointsFile: o.endpointsFile, env: {} }),
    namespace: o.operatorNamespace,
    watchNamespace: o.namespace,
    retryPeriodMs: 500,
    log: pino({ level: process.env.KVSYNC_TEST_LOG ?? 'silent' }, { write: (line: string) => console.log(line.trim()) }),
    webhook: {
      addr: `127.0.0.1:${o.port}`,
      endpoint: { url: `https://127.0.0.1:${o.port}/mutate-pods` },
      configurationName: o.configurationName,
      ...(o.sidecarCommand === undefined ? {} : { sidecarCommand: o.sidecarCommand }),
      extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [o.namespace] }],
    },
  });
}

/**
 * `kvsync controller [--kubeconfig FILE] [--azure-endpoints FILE] [--namespace NS]
 *   [--health-addr 127.0.0.1:8081] [--concurrency 4] [--leader-elect=true] [--watch-namespace NS]`
 * Runs until SIGTERM/SIGINT, then shuts down gracefully (informers stopped, in-flight reconciles
 * drained, lease released).
 */
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadAzureEnvironment } from '../keyvault/azure-environment.ts';
import { DEFAULT_OPERATOR_NAMESPACE, errorSummary, startController } from './controller.ts';

const USAGE = `usage: kvsync controller [flags]

  --kubeconfig FILE        kubeconfig (default: in-cluster, then $KUBECONFIG / ~/.kube/config)
  --azure-endpoints FILE   an emulator's endpoints.json (trust its CA, use its hosts)
  --namespace NS           operator namespace: MAC key Secret and leader Lease (default ${DEFAULT_OPERATOR_NAMESPACE})
  --watch-namespace NS     only sync KeyVaultSyncs in NS (default: all namespaces)
  --health-addr ADDR       /healthz and /readyz (default 127.0.0.1:8081)
  --concurrency N          reconciles at once (default 4)
  --leader-elect BOOL      leader election on a Lease (default true)
  --log-level LEVEL        pino level (default info)`;

/** Loads the kubeconfig: the flag, else in-cluster when running in a pod, else the usual default. */
export function loadKubeConfig(file: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST !== undefined && process.env.KUBECONFIG === undefined) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

function parseBool(v: string, flag: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new RangeError(`${flag}: expected true or false, got "${v}"`);
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        'azure-endpoints': { type: 'string' },
        namespace: { type: 'string', default: DEFAULT_OPERATOR_NAMESPACE },
        'watch-namespace': { type: 'string' },
        'health-addr': { type: 'string', default: '127.0.0.1:8081' },
        concurrency: { type: 'string', default: '4' },
        'leader-elect': { type: 'string', default: 'true' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`kvsync controller: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    console.error(`kvsync controller: --concurrency must be a positive integer\n\n${USAGE}`);
    return 2;
  }
  let leaderElect: boolean;
  try {
    leaderElect = parseBool(values['leader-elect'], '--leader-elect');
  } catch (err) {
    console.error(`kvsync controller: ${(err as Error).message}`);
    return 2;
  }
  const log = pino({ name: 'kvsync-controller', level: values['log-level'] });
  const kc = loadKubeConfig(values.kubeconfig);
  const azure = await loadAzureEnvironment({ ...(values['azure-endpoints'] === undefined ? {} : { endpointsFile: values['azure-endpoints'] }) });
  const controller = await startController({
    kubeConfig: kc,
    azure,
    namespace: values.namespace,
    ...(values['watch-namespace'] === undefined ? {} : { watchNamespace: values['watch-namespace'] }),
    healthAddr: values['health-addr'],
    concurrency,
    leaderElect,
    log,
  });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await controller.stop();
  } catch (err) {
    log.error({ err: errorSummary(err) }, 'shutdown failed');
    return 1;
  }
  return 0;
}

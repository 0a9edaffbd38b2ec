/**
 * `kvsync dev control-plane --kubeconfig FILE`: a local etcd + kube-apiserver + kube-controller-manager
 * until SIGINT/SIGTERM.
 * `kvsync dev` (`npm run dev`): the first look — today the control plane (and the Key Vault emulator
 * when it is present) with the commands to poke at them.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { startControlPlane, type RunningControlPlane } from './control-plane.ts';

const help = `usage:
  kvsync dev control-plane --kubeconfig FILE [--apiserver-port N] [--keep-state]
      Builds (first run only) and starts etcd, kube-apiserver and kube-controller-manager on loopback,
      writes an admin kubeconfig to FILE, prints the server URL and version, and runs until SIGINT/SIGTERM.
  kvsync dev [--kubeconfig FILE]
      The local first look: control plane (default kubeconfig .cache/dev/kubeconfig) until Ctrl-C.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      'apiserver-port': { type: 'string' },
      'keep-state': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(help);
    return 0;
  }
  const sub = positionals[0];
  if (sub !== undefined && sub !== 'control-plane') {
    console.error(`kvsync dev: unknown subcommand "${sub}"\n${help}`);
    return 2;
  }
  if (sub === 'control-plane' && !values.kubeconfig) {
    console.error(`kvsync dev control-plane: --kubeconfig FILE is required\n${help}`);
    return 2;
  }
  const port = values['apiserver-port'];
  if (port !== undefined && !/^\d{1,5}$/.test(port)) {
    console.error(`kvsync dev: --apiserver-port must be a port number, got "${port}"`);
    return 2;
  }
  const kubeconfigPath = resolve(values.kubeconfig ?? '.cache/dev/kubeconfig');
  if (values.kubeconfig === undefined) {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(resolve('.cache/dev'), { recursive: true });
  }

  let cp: RunningControlPlane;
  try {
    cp = await startControlPlane({
      kubeconfigPath,
      keepState: values['keep-state'],
      ...(port !== undefined ? { apiserverPort: Number(port) } : {}),
      log: (line) => console.error(`kvsync dev: ${line}`),
    });
  } catch (err) {
    if (err instanceof ControlPlaneError) {
      console.error(`kvsync dev: ${err.reason}: ${err.message}`);
      return 1;
    }
    throw err;
  }

  console.log(`kube-apiserver ${cp.version} is serving at ${cp.server}`);
  console.log(`kubeconfig: ${cp.kubeconfigPath}`);
  console.log(`try: ${cp.binaries.paths.kubectl} --kubeconfig ${cp.kubeconfigPath} get --raw /version`);
  console.log('stop with Ctrl-C (SIGINT) or SIGTERM');

  await new Promise<void>((done) => {
    // The children are unref'd (so tests can exit); this timer is what keeps the command running.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const finish = (): void => {
      clearInterval(keepAlive);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      done();
    };
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
  });
  console.error('kvsync dev: stopping the control plane');
  await cp.stop();
  return 0;
}

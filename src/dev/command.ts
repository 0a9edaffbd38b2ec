/**
 * `kvsync dev control-plane --kubeconfig FILE`: a local etcd + kube-apiserver + kube-controller-manager
 * until SIGINT/SIGTERM.
 * `kvsync dev` (`npm run dev`): the first look — the control plane with kvsync's CRDs installed and
 * the Key Vault emulator beside it, with the commands to poke at them, until Ctrl-C.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { startControlPlane, type RunningControlPlane } from './control-plane.ts';
import { ensureKubeBinaries } from './kube-binaries.ts';

const help = `usage:
  kvsync dev control-plane --kubeconfig FILE [--apiserver-port N] [--keep-state]
      Builds (first run only) and starts etcd, kube-apiserver and kube-controller-manager on loopback,
      writes an admin kubeconfig to FILE, prints the server URL and version, and runs until SIGINT/SIGTERM.
  kvsync dev build
      Builds (or finds in the cache) the control-plane binaries and prints their folder.
  kvsync dev [--kubeconfig FILE]
      The local first look: control plane with the kvsync CRDs (default kubeconfig .cache/dev/kubeconfig)
      and the Key Vault emulator (state in .cache/dev/emulator), until Ctrl-C.`;

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
  if (sub === 'build') return buildOnly();
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

  const stops: (() => Promise<void>)[] = [() => cp.stop()];
  console.log(`kube-apiserver ${cp.version} is serving at ${cp.server}`);
  console.log(`kubeconfig: ${cp.kubeconfigPath}`);
  console.log(`try: ${cp.binaries.paths.kubectl} --kubeconfig ${cp.kubeconfigPath} get --raw /version`);
  if (sub === undefined) {
    try {
      stops.unshift(await startDevExtras(cp));
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }
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
  console.error('kvsync dev: stopping');
  for (const stop of stops) await stop();
  return 0;
}

async function buildOnly(): Promise<number> {
  try {
    const bins = await ensureKubeBinaries((line) => console.error(`kvsync dev: ${line}`));
    console.log(bins.dir);
    return 0;
  } catch (err) {
    if (err instanceof ControlPlaneError) {
      console.error(`kvsync dev: ${err.reason}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

/** The CRDs and the Key Vault emulator; returns how to stop the emulator. */
async function startDevExtras(cp: RunningControlPlane): Promise<() => Promise<void>> {
  const [{ KubeConfig }, { installCrds }, { startEmulator }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('../api/install.ts'),
    import('../emulator/server.ts'),
  ]);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  await installCrds(kc);
  console.log('kvsync CRDs installed: keyvaultsyncs.kvsync.dev, keyvaultidentities.kvsync.dev');
  const stateDir = resolve('.cache/dev/emulator');
  const emulator = await startEmulator({ stateDir, log: (line) => console.error(`kvsync dev: emulator: ${line}`) });
  console.log(`Key Vault emulator: vaults ${Object.values(emulator.endpoints.vaults).join(', ')}`);
  console.log(`  endpoints: ${join(stateDir, 'endpoints.json')} (CA ${emulator.endpoints.caFile}, Entra ID ${emulator.endpoints.authorityHost}, IMDS ${emulator.endpoints.imdsEndpoint})`);
  return () => emulator.stop();
}

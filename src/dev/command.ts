/**
 * `kvsync dev control-plane --kubeconfig FILE`: a local etcd + kube-apiserver + kube-controller-manager
 * until SIGINT/SIGTERM.
 * `kvsync dev` (`npm run dev`): the first look — control plane, CRDs, Key Vault emulator, the
 * controller and a sample KeyVaultSync synced into a TLS and an Opaque Secret, then a rotation
 * (src/dev/demo.ts). It stops everything and exits unless `--keep` is given.
 */
import { constants } from 'node:fs';
import { access, open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseCommandArgs } from '../cli-args.ts';
import { describeFsError } from '../util/fs-errors.ts';
import { ControlPlaneError } from './errors.ts';
import { startControlPlane, type RunningControlPlane } from './control-plane.ts';
import { ensureKubeBinaries } from './kube-binaries.ts';
import { ensureHelm, findHelmOnPath, HelmError, type HelmBinary } from './helm.ts';
import { runDemo } from './demo.ts';
import { startCluster, type RunningCluster } from './cluster.ts';
import { buildImage } from './image.ts';
import { ensureIngressController, loadIngressController } from './ingress-controller.ts';
import { ensureNodeBinaries } from './node-binaries.ts';

const help = `usage:
  kvsync dev control-plane --kubeconfig FILE [--apiserver-port N] [--keep-state]
      Builds (first run only) and starts etcd, kube-apiserver and kube-controller-manager on loopback,
      writes an admin kubeconfig to FILE, prints the server URL and version, and runs until SIGINT/SIGTERM.
  kvsync dev cluster --kubeconfig FILE [--apiserver-port N]
      The control plane plus one real node (containerd, runc, CNI bridge, kubelet, kube-scheduler,
      kube-proxy) and cluster DNS (CoreDNS), all on this machine; runs until SIGINT/SIGTERM. Needs root
      and Debian packages (containerd runc containernetworking-plugins iptables conntrack iproute2).
  kvsync dev image
      Builds the Dockerfile with a private dockerd from locally made base images (build arguments;
      their defaults stay the public images), loads the image into the running local node's containerd
      and prints its reference. Needs root and Debian packages docker.io and debootstrap.
  kvsync dev ingress-image
      Builds (first run only) the ingress controller, Traefik, from its Go module (hack/traefik), packs
      it as an image, loads it into the running local node's containerd and prints its reference.
  kvsync dev build
      Builds (or finds in the cache) the control-plane binaries, helm (hack/helm), the node's
      binaries (kubelet, kube-scheduler, kube-proxy, CoreDNS, pause) and the ingress controller's image
      (Traefik) and prints the control-plane binaries' folder (the others' paths go to stderr).
  kvsync dev [--keep] [--kubeconfig FILE]
      The first look: control plane (kubeconfig .cache/dev/kubeconfig), kvsync CRDs, the chart's RBAC
      (rendered by helm), the Key Vault emulator (samples/emulator.yaml; state in .cache/dev/emulator), the
      controller running as the chart's ServiceAccount, samples/shop.yaml synced into a kubernetes.io/tls and
      an Opaque Secret, then a rotation. Exits when done; --keep leaves it all running until Ctrl-C.
      --kubeconfig FILE uses that existing cluster (admin rights) instead of starting one: operator
      namespace kvsync-dev, sample namespace shop, both removed with the RBAC on exit (the CRDs stay).
      Needs Go >= 1.26 (builds the control plane and helm), or with --kubeconfig a helm on PATH.`;

/** Where Go is missing, the way around it. */
const EXISTING_CLUSTER_HINT =
  'Or use a cluster you already have: npm run dev -- --kubeconfig FILE (an admin kubeconfig; needs no Go ' +
  'when helm v3/v4 is on PATH or KVSYNC_HELM_BIN names one).';

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('dev', help, {
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      'apiserver-port': { type: 'string' },
      'keep-state': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const sub = positionals[0];
  if (sub === 'build') return buildOnly();
  if (sub === 'cluster') return runCluster(values.kubeconfig, values['apiserver-port']);
  if (sub === 'image') return runImage();
  if (sub === 'ingress-image') return runIngressImage();
  if (sub !== undefined && sub !== 'control-plane') {
    console.error(`kvsync dev: unknown subcommand "${sub}"\n\n${help}`);
    return 2;
  }
  if (sub === 'control-plane' && !values.kubeconfig) {
    console.error(`kvsync dev control-plane: --kubeconfig FILE is required\n\n${help}`);
    return 2;
  }
  const port = values['apiserver-port'];
  if (port !== undefined && !/^\d{1,5}$/.test(port)) {
    console.error(`kvsync dev: --apiserver-port must be a port number, got "${port}"`);
    return 2;
  }
  const demo = sub === undefined;
  const existingCluster = demo && values.kubeconfig !== undefined;
  const kubeconfigPath = resolve(values.kubeconfig ?? '.cache/dev/kubeconfig');
  // Before anything starts: a path that cannot be used should not cost a control-plane start.
  const kubeconfigProblem = existingCluster ? await unreadable(kubeconfigPath) : values.kubeconfig === undefined ? undefined : await unwritable(kubeconfigPath);
  if (kubeconfigProblem !== undefined) {
    console.error(`kvsync dev${sub === undefined ? '' : ` ${sub}`}: --kubeconfig ${values.kubeconfig ?? ''}: ${kubeconfigProblem}`);
    return 2;
  }
  const { mkdir } = await import('node:fs/promises');
  await mkdir(resolve('.cache/dev'), { recursive: true });

  let helm: HelmBinary | undefined;
  if (demo) {
    try {
      helm = await demoHelm(existingCluster);
    } catch (err) {
      if (err instanceof HelmError) {
        const goProblem = err.reason === 'GoMissing' || err.reason === 'GoTooOld';
        console.error(`kvsync dev: ${err.reason}: ${err.message}${goProblem && !existingCluster ? `\n${EXISTING_CLUSTER_HINT}` : ''}`);
        return 1;
      }
      throw err;
    }
  }

  let cp: RunningControlPlane | undefined;
  if (!existingCluster) {
    try {
      cp = await startControlPlane({
        kubeconfigPath,
        keepState: values['keep-state'],
        ...(port !== undefined ? { apiserverPort: Number(port) } : {}),
        log: (line) => console.error(`kvsync dev: ${line}`),
      });
    } catch (err) {
      if (err instanceof ControlPlaneError) {
        const goProblem = err.reason === 'GoMissing' || err.reason === 'GoTooOld';
        console.error(`kvsync dev: ${err.reason}: ${err.message}${goProblem && demo ? `\n${EXISTING_CLUSTER_HINT}` : ''}`);
        return 1;
      }
      throw err;
    }
  }

  const stops: (() => Promise<void>)[] = [];
  if (cp !== undefined) {
    const running = cp;
    stops.push(() => running.stop());
    console.log(`kube-apiserver ${cp.version} is serving at ${cp.server}`);
    console.log(`kubeconfig: ${cp.kubeconfigPath}`);
    console.log(`try: ${cp.binaries.paths.kubectl} --kubeconfig ${cp.kubeconfigPath} get --raw /version`);
  } else {
    console.log(`using the existing cluster of ${kubeconfigPath} (no local control plane)`);
  }
  if (demo && helm !== undefined) {
    try {
      const stateDir = resolve('.cache/dev/emulator');
      const running = await runDemo(
        {
          kubeconfigPath,
          helm,
          operatorNamespace: existingCluster ? 'kvsync-dev' : 'kvsync-system',
          release: existingCluster ? 'kvsync-dev' : 'kvsync',
          existingCluster,
        },
        stateDir,
        (line) => console.log(line),
      );
      stops.unshift(() => running.stop());
      console.log(`kvsync dev: the demo worked: a KeyVaultSync synced a certificate and a secret from Key Vault, then followed a rotation.`);
      if (!values.keep) {
        console.log('kvsync dev: stopping (run `npm run dev -- --keep` to leave everything running)');
        for (const stop of stops) await stop();
        return 0;
      }
      console.log(`  kubectl --kubeconfig ${kubeconfigPath} -n shop get keyvaultsyncs,secrets`);
      console.log(`  emulator endpoints: ${join(stateDir, 'endpoints.json')}`);
    } catch (err) {
      for (const stop of stops) await stop().catch(() => {});
      console.error(`kvsync dev: the demo failed: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  }
  console.log('stop with Ctrl-C (SIGINT) or SIGTERM');

  await untilSignal();
  console.error('kvsync dev: stopping');
  for (const stop of stops) await stop();
  return 0;
}

/** Why a kubeconfig cannot be read from `file`, or undefined when it can. */
async function unreadable(file: string): Promise<string | undefined> {
  try {
    await access(file, constants.R_OK);
    return (await stat(file)).isDirectory() ? 'is a directory' : undefined;
  } catch (err) {
    return describeFsError(err);
  }
}

/**
 * Why a kubeconfig cannot be written to `file`, or undefined when it can: opened for appending (so an
 * existing one is kept) and removed again when this created it. A real open, as access() says yes to root.
 */
async function unwritable(file: string): Promise<string | undefined> {
  const existed = await stat(file).then(
    (s) => (s.isDirectory() ? 'directory' : 'file'),
    () => undefined,
  );
  if (existed === 'directory') return 'is a directory';
  try {
    await (await open(file, 'a')).close();
    if (existed === undefined) await rm(file, { force: true });
    return undefined;
  } catch (err) {
    if (existed !== undefined) return `cannot write it (${describeFsError(err)})`;
    const folder = await stat(dirname(file)).catch(() => undefined);
    return `cannot create it in ${dirname(file)} (${folder === undefined ? 'no such folder' : describeFsError(err)})`;
  }
}

/**
 * helm for the demo: KVSYNC_HELM_BIN, else built from hack/helm; on an existing cluster without a
 * usable Go, a helm already on PATH will do.
 */
async function demoHelm(existingCluster: boolean): Promise<HelmBinary> {
  try {
    return await ensureHelm((line) => console.error(`kvsync dev: ${line}`));
  } catch (err) {
    const goProblem = err instanceof HelmError && (err.reason === 'GoMissing' || err.reason === 'GoTooOld');
    const onPath = goProblem && existingCluster ? await findHelmOnPath() : undefined;
    if (onPath !== undefined) {
      console.error(`kvsync dev: no usable Go; using ${onPath.version} from PATH to render the chart`);
      return onPath;
    }
    throw err;
  }
}

/** `kvsync dev cluster`: control plane + node until SIGINT/SIGTERM. */
async function runCluster(kubeconfig: string | undefined, port: string | undefined): Promise<number> {
  if (kubeconfig === undefined) {
    console.error(`kvsync dev cluster: --kubeconfig FILE is required\n${help}`);
    return 2;
  }
  if (port !== undefined && !/^\d{1,5}$/.test(port)) {
    console.error(`kvsync dev: --apiserver-port must be a port number, got "${port}"`);
    return 2;
  }
  let cluster: RunningCluster;
  try {
    cluster = await startCluster({
      kubeconfigPath: resolve(kubeconfig),
      ...(port === undefined ? {} : { apiserverPort: Number(port) }),
      log: (line) => console.error(`kvsync dev: ${line}`),
    });
  } catch (err) {
    if (err instanceof ControlPlaneError) {
      console.error(`kvsync dev: ${err.reason}: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const cp = cluster.controlPlane;
  console.log(`kube-apiserver ${cp.version} is serving at ${cp.server}; node ${cluster.node.name} is Ready`);
  console.log(`kubeconfig: ${cp.kubeconfigPath}`);
  console.log(`try: ${cp.binaries.paths.kubectl} --kubeconfig ${cp.kubeconfigPath} get nodes,pods -A`);
  console.log('stop with Ctrl-C (SIGINT) or SIGTERM');
  await untilSignal();
  console.error('kvsync dev: stopping');
  await cluster.stop();
  return 0;
}

/** `kvsync dev image`: stdout is the image reference alone (for `--set image.tag=…` in scripts). */
async function runImage(): Promise<number> {
  try {
    const image = await buildImage({ log: (line) => console.error(`kvsync dev: ${line}`) });
    if (!image.loaded) console.error(`kvsync dev: no local node is running; the image is saved as ${image.archive}`);
    console.log(image.ref);
    return 0;
  } catch (err) {
    return reportControlPlaneError(err);
  }
}

/** `kvsync dev ingress-image`: stdout is the image reference alone. */
async function runIngressImage(): Promise<number> {
  try {
    console.log((await loadIngressController((line) => console.error(`kvsync dev: ${line}`))).image);
    return 0;
  } catch (err) {
    return reportControlPlaneError(err);
  }
}

/** Exit status 1 with the reason and message of a ControlPlaneError; anything else is rethrown. */
function reportControlPlaneError(err: unknown): number {
  if (!(err instanceof ControlPlaneError)) throw err;
  console.error(`kvsync dev: ${err.reason}: ${err.message}`);
  return 1;
}

/** Resolves on SIGINT or SIGTERM (the started processes are unref'd; this keeps the command running). */
function untilSignal(): Promise<void> {
  return new Promise<void>((done) => {
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
}

/** Builds (or finds) the control-plane binaries and helm; prints the binaries' folder. */
async function buildOnly(): Promise<number> {
  try {
    const bins = await ensureKubeBinaries((line) => console.error(`kvsync dev: ${line}`));
    const helm = await ensureHelm((line) => console.error(`kvsync dev: ${line}`));
    const node = await ensureNodeBinaries((line) => console.error(`kvsync dev: ${line}`));
    console.error(`kvsync dev: the node's kubelet, kube-scheduler, kube-proxy, CoreDNS and pause: ${node.dir}`);
    const ingress = await ensureIngressController((line) => console.error(`kvsync dev: ${line}`));
    console.error(`kvsync dev: the ingress controller ${ingress.image}: ${ingress.archive}`);
    // stdout stays the binaries' folder alone (the README uses "$(kvsync dev build)/kubectl").
    console.error(`kvsync dev: helm ${helm.version}: ${helm.path}`);
    console.log(bins.dir);
    return 0;
  } catch (err) {
    if (err instanceof ControlPlaneError || err instanceof HelmError) {
      console.error(`kvsync dev: ${err.reason}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

/**
 * One real Kubernetes node beside the local control plane: containerd (CRI) with runc, the CNI bridge
 * plugin, the kubelet, kube-scheduler, kube-proxy (iptables) and CoreDNS, each started under `leash`
 * so nothing outlives the process that started it.
 *
 * Everything stays on this machine. Pods live on the bridge `kvsync0` (10.244.0.0/24); the host's end,
 * 10.244.0.1, is also where kube-apiserver, the kubelet and cluster DNS listen, because pods cannot
 * reach the host's loopback. Cluster DNS has no forwarder: it answers the cluster's names and, for the
 * Key Vault emulator, the Azure host names (`*.vault.azure.net`, the Entra authority host) with
 * 10.244.0.1; any other name is NXDOMAIN.
 *
 * A node is a machine-wide thing (a bridge, iptables rules, cgroups), so one runs at a time: its state
 * lives in the fixed folder /run/kvsync-node, guarded by a pid file, and leftovers of a run that was
 * killed (containers, mounts, network namespaces) are removed before the next start.
 */
import { execFile } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { readdir, readFile, mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { issueLeaf } from './control-plane-pki.ts';
import { kubeconfigYaml, type RunningControlPlane } from './control-plane.ts';
import { ControlPlaneError } from './errors.ts';
import { pathExists } from './go-toolchain.ts';
import { NODE_REQUIREMENTS, requireHost } from './host-prerequisites.ts';
import { ensureNodeBinaries, type NodeBinaries } from './node-binaries.ts';
import { writeOciArchive } from './oci-archive.ts';
import { freePort } from './ports.ts';
import { SupervisedProcess } from './supervised-process.ts';
import { pollUntil, PollTimeoutError } from '../util/poll.ts';

const execFileAsync = promisify(execFile);

export const NODE_NAME = 'kvsync-node';
/** The pod network: a Linux bridge whose host address is also the node's and the apiserver's. */
export const POD_NETWORK = { bridge: 'kvsync0', gateway: '10.244.0.1', subnet: '10.244.0.0/24', prefixLength: 24, serviceCidr: '10.96.0.0/24' } as const;
/** The fixed state folder of the one node this machine runs (containerd, kubelet, pod logs, PKI). */
export const NODE_RUN_DIR = '/run/kvsync-node';
/** kubelet's cgroup root (cgroupfs driver): every pod's processes are below it, so leftovers can be found. */
const CGROUP_ROOT = 'kvsync-node';
const PAUSE_IMAGE = 'kvsync.local/pause:1';
/** Host names cluster DNS answers with the emulator's address (10.244.0.1). */
export const AZURE_DNS_ZONES = ['vault.azure.net', 'login.microsoftonline.com'] as const;
/** Controllers the node needs from kube-controller-manager: taints of a Ready node, Service endpoints, pod GC. */
export const NODE_CONTROLLERS = ['node-lifecycle-controller', 'endpointslice-controller', 'endpoints-controller', 'pod-garbage-collector-controller'] as const;

export interface RunningNode {
  name: string;
  /** The node's InternalIP (also where cluster DNS answers). */
  address: string;
  containerdSocket: string;
  binaries: NodeBinaries;
  logDir: string;
  stop(): Promise<void>;
}

export interface NodeOptions {
  log?: (line: string) => void;
  /** How long each component may take to become ready; default 120 s. */
  startTimeoutMs?: number;
}

/** Runs `ctr` against the node's containerd in the kubelet's namespace. */
async function ctr(socket: string, args: string[], timeoutMs = 300_000): Promise<string> {
  const { stdout } = await execFileAsync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

/** The host made ready for a node: packages found, binaries built, the run folder claimed, the bridge up. */
export interface PreparedNodeHost {
  programs: Record<string, string>;
  binaries: NodeBinaries;
  /** Releases the run folder when the node is not started after all. */
  release(): Promise<void>;
}

/**
 * Everything a node needs before the control plane starts (the apiserver binds the bridge's address).
 * @throws ControlPlaneError HostPrerequisiteMissing (what to apt-get install), NodeBusy, BuildFailed
 */
export async function prepareNodeHost(log: (line: string) => void = () => {}): Promise<PreparedNodeHost> {
  const programs = await requireHost('a local node', NODE_REQUIREMENTS);
  const binaries = await ensureNodeBinaries(log);
  await claimRunDir();
  await prepareHostNetwork(programs.ip ?? 'ip');
  await prepareCgroups();
  return { programs, binaries, release: () => removeLeftovers(join(NODE_RUN_DIR, 'containerd.sock')) };
}

/**
 * Imports an image archive into the containerd of the node running on this machine, if one runs.
 * @returns false when no node runs
 */
export async function importIntoRunningNode(archive: string): Promise<boolean> {
  const socket = join(NODE_RUN_DIR, 'containerd.sock');
  const holder = Number((await readFile(join(NODE_RUN_DIR, 'pid'), 'utf8').catch(() => '')).trim());
  if (!(Number.isInteger(holder) && holder > 0 && isAlive(holder)) || !(await pathExists(socket))) return false;
  await ctr(socket, ['images', 'import', archive], 600_000);
  return true;
}

/**
 * Starts the node for `cp`, which must bind {@link POD_NETWORK}.gateway and run {@link NODE_CONTROLLERS},
 * on a host made ready by {@link prepareNodeHost}.
 */
export async function startNode(cp: RunningControlPlane, host: PreparedNodeHost, opts: NodeOptions = {}): Promise<RunningNode> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const { binaries, programs } = host;
  const dirs = {
    pki: join(NODE_RUN_DIR, 'pki'),
    logs: join(NODE_RUN_DIR, 'logs'),
    containerdRoot: join(NODE_RUN_DIR, 'containerd', 'root'),
    containerdState: join(NODE_RUN_DIR, 'containerd', 'state'),
    cniConf: join(NODE_RUN_DIR, 'cni', 'net.d'),
    cniState: join(NODE_RUN_DIR, 'cni', 'ipam'),
    kubelet: join(NODE_RUN_DIR, 'kubelet'),
    podLogs: join(NODE_RUN_DIR, 'pod-logs'),
    images: join(NODE_RUN_DIR, 'images'),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const processes: SupervisedProcess[] = [];
  const socket = join(NODE_RUN_DIR, 'containerd.sock');
  const stop = async (): Promise<void> => {
    for (const p of [...processes].reverse()) {
      // The kubelet stops pods only when told to; containers are removed with their cgroups below.
      if (p.name === 'containerd') await killPods();
      await p.stop();
    }
    await execFileAsync(binaries.paths['kube-proxy'], ['--cleanup'], { timeout: 60_000 }).catch(() => {});
    await removeLeftovers(socket);
  };

  try {
    const files = await writeNodePki(cp, dirs.pki);
    const leash = cp.binaries.paths.leash;

    // containerd: its own socket, root and state under the run folder, beside any other containerd.
    const containerdConfig = join(NODE_RUN_DIR, 'containerd.toml');
    await writeFile(containerdConfig, containerdToml(socket, dirs));
    const containerd = new SupervisedProcess('containerd', leash, programs.containerd ?? 'containerd', ['--config', containerdConfig], join(dirs.logs, 'containerd.log'));
    processes.push(containerd);
    log('starting containerd (CRI, runc, CNI bridge)');
    await waitFor(containerd, timeoutMs, 'containerd to answer', async () => ((await ctr(socket, ['version'], 10_000)).includes('Server') ? true : undefined));

    const pauseRoot = join(dirs.images, 'pause-root');
    await mkdir(pauseRoot, { recursive: true });
    await copyFile(binaries.paths.pause, join(pauseRoot, 'pause'));
    const pauseArchive = join(dirs.images, 'pause.tar');
    await writeOciArchive(pauseRoot, PAUSE_IMAGE, { Entrypoint: ['/pause'], User: '65535:65535' }, pauseArchive);
    await ctr(socket, ['images', 'import', pauseArchive]);

    await writeFile(join(dirs.cniConf, '10-kvsync.conflist'), JSON.stringify(cniConfig(dirs.cniState), null, 2));

    const kubeletPort = await freePort(POD_NETWORK.gateway);
    const kubeletConfig = join(NODE_RUN_DIR, 'kubelet.yaml');
    await writeFile(kubeletConfig, stringify(kubeletConfiguration(socket, files, kubeletPort, await freePort(), dirs.podLogs)));
    const kubelet = new SupervisedProcess('kubelet', leash, binaries.paths.kubelet, [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${files.kubeletKubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${POD_NETWORK.gateway}`,
      `--root-dir=${dirs.kubelet}`,
      '--v=1',
    ], join(dirs.logs, 'kubelet.log'));
    processes.push(kubelet);
    log(`starting kubelet ${binaries.kubernetesVersion} (node ${NODE_NAME} at ${POD_NETWORK.gateway})`);

    const schedulerPort = await freePort();
    const scheduler = new SupervisedProcess('kube-scheduler', leash, binaries.paths['kube-scheduler'], [
      `--kubeconfig=${files.schedulerKubeconfig}`,
      `--authentication-kubeconfig=${files.schedulerKubeconfig}`,
      `--authorization-kubeconfig=${files.schedulerKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      `--cert-dir=${join(dirs.pki, 'scheduler')}`,
      '--leader-elect=false',
      '--v=0',
    ], join(dirs.logs, 'kube-scheduler.log'));
    processes.push(scheduler);
    log('starting kube-scheduler');

    const proxyConfig = join(NODE_RUN_DIR, 'kube-proxy.yaml');
    const proxyHealthPort = await freePort();
    await writeFile(proxyConfig, stringify(kubeProxyConfiguration(files.proxyKubeconfig, proxyHealthPort, await freePort())));
    const proxy = new SupervisedProcess('kube-proxy', leash, binaries.paths['kube-proxy'], [`--config=${proxyConfig}`, '--v=0'], join(dirs.logs, 'kube-proxy.log'));
    processes.push(proxy);
    log('starting kube-proxy (iptables)');

    const dnsReadyPort = await freePort();
    const corefile = join(NODE_RUN_DIR, 'Corefile');
    await writeFile(corefile, corefileText(files.corednsKubeconfig, await freePort(), dnsReadyPort));
    const coredns = new SupervisedProcess('coredns', leash, binaries.paths.coredns, ['-conf', corefile], join(dirs.logs, 'coredns.log'));
    processes.push(coredns);
    log(`starting CoreDNS ${binaries.corednsVersion} on ${POD_NETWORK.gateway}:53`);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await waitFor(kubelet, timeoutMs, `node ${NODE_NAME} Ready and schedulable`, async () => {
      const node = await core.readNode({ name: NODE_NAME }).catch(() => undefined);
      const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      const tainted = (node?.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));
      return ready && !tainted ? true : undefined;
    });
    await waitFor(scheduler, timeoutMs, 'kube-scheduler /healthz', async () => ((await httpStatus(`https://127.0.0.1:${schedulerPort}/healthz`)) === 200 ? true : undefined));
    await waitFor(proxy, timeoutMs, 'kube-proxy /healthz', async () => ((await httpStatus(`http://127.0.0.1:${proxyHealthPort}/healthz`)) === 200 ? true : undefined));
    await waitFor(coredns, timeoutMs, 'CoreDNS /ready', async () => ((await httpStatus(`http://127.0.0.1:${dnsReadyPort}/ready`)) === 200 ? true : undefined));

    return {
      name: NODE_NAME,
      address: POD_NETWORK.gateway,
      containerdSocket: socket,
      binaries,
      logDir: dirs.logs,
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function waitFor(proc: SupervisedProcess, timeoutMs: number, what: string, probe: () => Promise<true | undefined>): Promise<void> {
  try {
    await pollUntil(
      async () => {
        proc.assertRunning();
        return probe();
      },
      { timeoutMs, intervalMs: 250, description: what, isFatal: (err) => err instanceof ControlPlaneError },
    );
  } catch (err) {
    proc.assertRunning();
    if (err instanceof PollTimeoutError) {
      throw new ControlPlaneError('StartTimeout', `${err.message}. Last lines of ${proc.logPath}:\n${proc.logTail(15)}`, { cause: err });
    }
    throw err;
  }
}

/** The status of a GET (TLS not verified: a loopback health endpoint with a self-signed certificate). */
function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { timeout: 5_000, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', reject);
  });
}

/**
 * Takes the run folder for this process: refuses when another live process holds it, else removes
 * what a killed run left behind and starts clean.
 * @throws ControlPlaneError NodeBusy naming the process that runs the node
 */
async function claimRunDir(): Promise<void> {
  const pidFile = join(NODE_RUN_DIR, 'pid');
  const holder = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw new ControlPlaneError('NodeBusy', `a local node is already running on this machine (process ${holder}, state in ${NODE_RUN_DIR}); stop it first (one node per machine)`);
  }
  await removeLeftovers(join(NODE_RUN_DIR, 'containerd.sock'));
  await mkdir(NODE_RUN_DIR, { recursive: true });
  await writeFile(pidFile, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** cgroup v1 hierarchies (one folder per controller), or the v2 root. */
async function cgroupHierarchies(): Promise<string[]> {
  const root = '/sys/fs/cgroup';
  if (await pathExists(join(root, 'cgroup.controllers'))) return [root];
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !e.isSymbolicLink()).map((e) => join(root, e.name));
}

/** Creates kubelet's cgroup root in every hierarchy (cpuset needs its CPUs and memory nodes set first). */
async function prepareCgroups(): Promise<void> {
  for (const h of await cgroupHierarchies()) {
    const dir = join(h, CGROUP_ROOT);
    await mkdir(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (await pathExists(join(h, f))) await writeFile(join(dir, f), await readFile(join(h, f), 'utf8'));
    }
  }
}

/** SIGKILLs every process in the pods' cgroups (containers of this and earlier runs). */
async function killPods(): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await walk(join(dir, e.name));
  };
  for (const h of await cgroupHierarchies()) await walk(join(h, CGROUP_ROOT));
}

/**
 * Removes what a node leaves behind: container processes, runc shims of our containerd, mounts below
 * the run folder, the pods' network namespaces, and the run folder itself.
 */
async function removeLeftovers(socket: string): Promise<void> {
  await killPods();
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (cmdline[0]?.includes('containerd-shim') && cmdline.includes(socket)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  // Mounts: kubelet's volumes, containerd's rootfs and shm; deepest first.
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const mounts = mountinfo.split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined && (m === NODE_RUN_DIR || m.startsWith(`${NODE_RUN_DIR}/`)));
  for (const m of mounts.sort((a, b) => b.length - a.length)) await execFileAsync('umount', ['-l', m]).catch(() => {});
  for (const ns of await readdir('/run/netns').catch(() => [])) {
    if (ns.startsWith('cni-')) await execFileAsync('ip', ['netns', 'delete', ns]).catch(() => {});
  }
  await rm(NODE_RUN_DIR, { recursive: true, force: true });
}

/** The bridge with the host's address, forwarding, and bridged traffic through iptables (Services). */
async function prepareHostNetwork(ip: string): Promise<void> {
  const { bridge, gateway, prefixLength } = POD_NETWORK;
  const links = await execFileAsync(ip, ['-o', 'link', 'show', bridge]).catch(() => undefined);
  if (links === undefined) await execFileAsync(ip, ['link', 'add', bridge, 'type', 'bridge']);
  const addrs = (await execFileAsync(ip, ['-o', '-4', 'addr', 'show', 'dev', bridge])).stdout;
  if (!addrs.includes(` ${gateway}/`)) await execFileAsync(ip, ['addr', 'add', `${gateway}/${prefixLength}`, 'dev', bridge]);
  await execFileAsync(ip, ['link', 'set', bridge, 'up']);
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  // A pod reaching a Service whose endpoint is on the same bridge needs the bridged reply to pass
  // kube-proxy's NAT rules.
  if (await pathExists('/proc/sys/net/bridge/bridge-nf-call-iptables')) await writeFile('/proc/sys/net/bridge/bridge-nf-call-iptables', '1');
}

interface NodePkiFiles {
  clientCa: string;
  kubeletCert: string;
  kubeletKey: string;
  kubeletKubeconfig: string;
  schedulerKubeconfig: string;
  proxyKubeconfig: string;
  corednsKubeconfig: string;
}

/** Client certificates for the kubelet (as the node), scheduler, kube-proxy and CoreDNS, and the kubelet's serving certificate. */
async function writeNodePki(cp: RunningControlPlane, dir: string): Promise<NodePkiFiles> {
  const { pki, server } = cp;
  const kubeconfig = async (file: string, subject: string, user: string): Promise<string> => {
    const leaf = await issueLeaf(pki.clientCa, subject, 'client');
    const path = join(dir, file);
    await writeFile(path, kubeconfigYaml(server, pki.servingCa.certPem, leaf, user), { mode: 0o600 });
    return path;
  };
  const serving = await issueLeaf(pki.servingCa, `CN=${NODE_NAME}`, 'server', [
    { type: 'dns', value: NODE_NAME },
    { type: 'ip', value: POD_NETWORK.gateway },
  ]);
  const files: NodePkiFiles = {
    clientCa: join(dir, 'client-ca.crt'),
    kubeletCert: join(dir, 'kubelet.crt'),
    kubeletKey: join(dir, 'kubelet.key'),
    kubeletKubeconfig: await kubeconfig('kubelet.kubeconfig', `CN=system:node:${NODE_NAME}, O=system:nodes`, `system:node:${NODE_NAME}`),
    schedulerKubeconfig: await kubeconfig('scheduler.kubeconfig', 'CN=system:kube-scheduler', 'system:kube-scheduler'),
    proxyKubeconfig: await kubeconfig('kube-proxy.kubeconfig', 'CN=system:kube-proxy', 'system:kube-proxy'),
    corednsKubeconfig: await kubeconfig('coredns.kubeconfig', `CN=${COREDNS_USER}`, COREDNS_USER),
  };
  await writeFile(files.clientCa, pki.clientCa.certPem);
  await writeFile(files.kubeletCert, serving.certPem + pki.servingCa.certPem);
  await writeFile(files.kubeletKey, serving.keyPem, { mode: 0o600 });
  await grantCoreDns(cp.kubeconfigPath);
  return files;
}

const COREDNS_USER = 'kvsync-dev:coredns';

/** CoreDNS reads Services, EndpointSlices, Pods and Namespaces (what the upstream manifest grants it). */
async function grantCoreDns(kubeconfigPath: string): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const objects: k8s.KubernetesObject[] = [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: COREDNS_USER },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    } as k8s.V1ClusterRole,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: COREDNS_USER },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: COREDNS_USER },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: COREDNS_USER }],
    } as k8s.V1ClusterRoleBinding,
  ];
  for (const obj of objects) await api.patch(obj, undefined, undefined, 'kvsync-dev', true, k8s.PatchStrategy.ServerSideApply);
}

function containerdToml(socket: string, dirs: { containerdRoot: string; containerdState: string; cniConf: string }): string {
  return `version = 2
root = "${dirs.containerdRoot}"
state = "${dirs.containerdState}"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(NODE_RUN_DIR, 'containerd', 'opt')}"
[plugins."io.containerd.grpc.v1.cri"]
  # root here lacks CAP_SYS_RESOURCE: a sandbox's oom_score_adj of -998 would make runc fail.
  restrict_oom_score_adj = true
  sandbox_image = "${PAUSE_IMAGE}"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dirs.cniConf}"
`;
}

function cniConfig(ipamDir: string): unknown {
  return {
    cniVersion: '1.0.0',
    name: 'kvsync',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_NETWORK.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet: POD_NETWORK.subnet, gateway: POD_NETWORK.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

function kubeletConfiguration(socket: string, files: NodePkiFiles, port: number, healthzPort: number, podLogsDir: string): unknown {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${CGROUP_ROOT}`,
    containerRuntimeEndpoint: `unix://${socket}`,
    failSwapOn: false,
    address: POD_NETWORK.gateway,
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    tlsCertFile: files.kubeletCert,
    tlsPrivateKeyFile: files.kubeletKey,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: files.clientCa } },
    authorization: { mode: 'Webhook' },
    clusterDomain: 'cluster.local',
    clusterDNS: [POD_NETWORK.gateway],
    // Pods get only cluster DNS: the host's resolvers are never handed to them.
    resolvConf: '',
    podLogsDir,
    enforceNodeAllocatable: [],
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    serializeImagePulls: false,
    maxPods: 60,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    registerNode: true,
    // The node's pods exit quickly when stopped: tests delete and recreate them.
    shutdownGracePeriod: '0s',
  };
}

function kubeProxyConfiguration(kubeconfig: string, healthPort: number, metricsPort: number): unknown {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig },
    hostnameOverride: NODE_NAME,
    bindAddress: POD_NETWORK.gateway,
    healthzBindAddress: `127.0.0.1:${healthPort}`,
    metricsBindAddress: `127.0.0.1:${metricsPort}`,
    clusterCIDR: POD_NETWORK.subnet,
    // NodePorts only on the node's own bridge address, never on the machine's other interfaces.
    nodePortAddresses: [`${POD_NETWORK.gateway}/32`],
    // Leave the host's conntrack table size alone.
    conntrack: { maxPerCore: 0 },
  };
}

function corefileText(kubeconfig: string, healthPort: number, readyPort: number): string {
  const gw = POD_NETWORK.gateway;
  return `${AZURE_DNS_ZONES.join(' ')} {
    bind ${gw}
    errors
    template IN A {
        answer "{{ .Name }} 60 IN A ${gw}"
    }
    template IN AAAA {
        rcode NOERROR
    }
}
cluster.local in-addr.arpa {
    bind ${gw}
    errors
    health 127.0.0.1:${healthPort}
    ready 127.0.0.1:${readyPort}
    kubernetes cluster.local in-addr.arpa {
        kubeconfig ${kubeconfig}
        pods insecure
        fallthrough in-addr.arpa
    }
    cache 30
}
`;
}

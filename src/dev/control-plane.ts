/**
 * A real, throwaway Kubernetes control plane on loopback: etcd, kube-apiserver and
 * kube-controller-manager (garbage collector, namespaces, ServiceAccounts and their tokens, and the
 * workload controllers that roll Deployments), built from Go modules (kube-binaries.ts).
 *
 * The apiserver issues ServiceAccount tokens (TokenRequest) and serves its issuer discovery
 * (`/.well-known/openid-configuration`, `/openid/v1/jwks`) to anonymous callers, as a cloud
 * cluster's public OIDC issuer does, so that workload identity can be verified end to end.
 */
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateControlPlanePki, type ControlPlanePki } from './control-plane-pki.ts';
import { ControlPlaneError } from './errors.ts';
import { ensureKubeBinaries, type KubeBinaries } from './kube-binaries.ts';
import { assertPortFree, freePort } from './ports.ts';
import { SupervisedProcess } from './supervised-process.ts';
import { pollUntil, PollTimeoutError } from '../util/poll.ts';

export interface ControlPlaneOptions {
  /** Where to write the admin kubeconfig; default `<stateDir>/kubeconfig`. */
  kubeconfigPath?: string;
  /** Fixed apiserver port; default: a free one. */
  apiserverPort?: number;
  /** Keep the state folder (etcd data, PKI, logs) after stop; default: removed. */
  keepState?: boolean;
  /** Progress lines (build, start); default: silent. */
  log?: (line: string) => void;
  /** How long each process may take to become ready; default 90 s (contended CI needs it). */
  startTimeoutMs?: number;
  /**
   * The address kube-apiserver binds and advertises; default 127.0.0.1. A cluster with a node uses an
   * address its pods can reach (the pod bridge's), since pods cannot reach the host's loopback.
   */
  address?: string;
  /**
   * Service ClusterIP range; default 10.0.0.0/24 (a /24 whose first address is the `kubernetes` Service).
   * A cluster with a node uses its own, so its kube-proxy rules never catch another control plane's Services.
   */
  serviceCidr?: string;
  /** kube-controller-manager controllers beyond the default set (a node needs node lifecycle and endpoints). */
  extraControllers?: readonly string[];
}

export interface RunningControlPlane {
  /** `https://127.0.0.1:<port>` */
  server: string;
  kubeconfigPath: string;
  /** `gitVersion` the apiserver reports, e.g. `v1.34.4`. */
  version: string;
  /** The ServiceAccount token issuer (`iss` of projected tokens). */
  serviceAccountIssuer: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caPem: string;
  stateDir: string;
  /** The CAs and certificates, for components started later (a node's kubelet, scheduler, proxy). */
  pki: ControlPlanePki;
  /** Files of the PKI (CA certificates, the apiserver's kubelet client certificate). */
  pkiFiles: Record<string, string>;
  binaries: KubeBinaries;
  processes: SupervisedProcess[];
  /**
   * Restarts one process (same flags, ports and state: etcd keeps its data) and waits until it is ready
   * again, as after start (fault-injection tests).
   */
  restart(name: RestartableProcess): Promise<void>;
  stop(): Promise<void>;
}

export type RestartableProcess = 'etcd' | 'kube-apiserver';

const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'disruption-controller',
];

/** Starts the three processes and waits until the API answers and controllers run. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<RunningControlPlane> {
  const log = opts.log ?? (() => {});
  if (opts.apiserverPort !== undefined) await assertPortFree(opts.apiserverPort, '--apiserver-port');
  const binaries = await ensureKubeBinaries(log);
  // Free ports can be raced for; a start that lost such a race is retried with new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binaries, opts, log);
    } catch (err) {
      const retry = err instanceof ControlPlaneError && err.reason === 'PortInUse' && opts.apiserverPort === undefined && attempt < 3;
      if (!retry) throw err;
      log(`a port was taken while starting (${err.message.split('\n')[0]}); retrying with new ports`);
    }
  }
}

async function startOnce(binaries: KubeBinaries, opts: ControlPlaneOptions, log: (line: string) => void): Promise<RunningControlPlane> {
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const stateDir = await mkdtemp(join(tmpdir(), 'kvsync-cp-'));
  const pkiDir = join(stateDir, 'pki');
  const logDir = join(stateDir, 'logs');
  await mkdir(pkiDir);
  await mkdir(logDir);
  const processes: SupervisedProcess[] = [];
  const stop = async (): Promise<void> => {
    // Reverse order: controllers first, etcd last, so nothing logs errors about a vanished backend.
    for (const p of [...processes].reverse()) await p.stop();
    if (!opts.keepState) await rm(stateDir, { recursive: true, force: true });
  };

  try {
    const address = opts.address ?? '127.0.0.1';
    const serviceCidr = opts.serviceCidr ?? '10.0.0.0/24';
    const pki = await generateControlPlanePki(address, firstServiceIp(serviceCidr));
    const files = await writePki(pkiDir, pki);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = [
      await freePort(),
      await freePort(),
      opts.apiserverPort ?? (await freePort(address)),
      await freePort(),
    ];
    const server = `https://${address}:${apiPort}`;
    const issuer = server;

    const etcd = new SupervisedProcess('etcd', binaries.paths.leash, binaries.paths.etcd, [
      `--data-dir=${join(stateDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], join(logDir, 'etcd.log'));
    processes.push(etcd);
    log(`starting etcd ${binaries.etcdVersion} on 127.0.0.1:${etcdPort}`);
    const etcdReady = async (): Promise<true | undefined> => {
      const body = await get({ url: `http://127.0.0.1:${etcdPort}/health` });
      return body.status === 200 && body.text.includes('"true"') ? true : undefined;
    };
    await waitReady(etcd, timeoutMs, 'etcd /health', etcdReady);

    const apiserver = new SupervisedProcess('kube-apiserver', binaries.paths.leash, binaries.paths['kube-apiserver'], [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--bind-address=${address}`,
      `--advertise-address=${address}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${pkiDir}`,
      `--tls-cert-file=${files.apiserverCert}`,
      `--tls-private-key-file=${files.apiserverKey}`,
      `--client-ca-file=${files.clientCaCert}`,
      // Node: kubelets may read only what their own pods need; NodeRestriction limits what they write.
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--kubelet-client-certificate=${files.kubeletClientCert}`,
      `--kubelet-client-key=${files.kubeletClientKey}`,
      `--kubelet-certificate-authority=${files.servingCaCert}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--service-account-issuer=${issuer}`,
      `--service-account-key-file=${files.saPublic}`,
      `--service-account-signing-key-file=${files.saPrivate}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      '--allow-privileged=true',
      '--profiling=false',
      '--v=0',
    ], join(logDir, 'kube-apiserver.log'));
    processes.push(apiserver);
    log(`starting kube-apiserver ${binaries.kubernetesVersion} on ${server}`);
    const tls = { ca: pki.servingCa.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    const apiserverReady = async (): Promise<true | undefined> => {
      const r = await get({ url: `${server}/readyz`, ...tls });
      return r.status === 200 ? true : undefined;
    };
    await waitReady(apiserver, timeoutMs, 'kube-apiserver /readyz', apiserverReady);
    const restartable = { etcd: { proc: etcd, ready: etcdReady, what: 'etcd /health' }, 'kube-apiserver': { proc: apiserver, ready: apiserverReady, what: 'kube-apiserver /readyz' } };

    const kubeconfigPath = opts.kubeconfigPath ?? join(stateDir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(server, pki.servingCa.certPem, pki.admin, 'kvsync-admin'), { mode: 0o600 });
    const kcmKubeconfig = join(pkiDir, 'kube-controller-manager.kubeconfig');
    await writeFile(kcmKubeconfig, kubeconfigYaml(server, pki.servingCa.certPem, pki.controllerManager, 'kube-controller-manager'), { mode: 0o600 });

    await allowAnonymousIssuerDiscovery(server, tls);

    const kcm = new SupervisedProcess('kube-controller-manager', binaries.paths.leash, binaries.paths['kube-controller-manager'], [
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(pkiDir, 'kcm')}`,
      '--leader-elect=false',
      `--controllers=${[...CONTROLLERS, ...(opts.extraControllers ?? [])].join(',')}`,
      `--service-account-private-key-file=${files.saPrivate}`,
      `--root-ca-file=${files.servingCaCert}`,
      '--use-service-account-credentials=false',
      '--concurrent-gc-syncs=5',
      '--v=0',
    ], join(logDir, 'kube-controller-manager.log'));
    processes.push(kcm);
    log('starting kube-controller-manager');
    await waitReady(kcm, timeoutMs, 'kube-controller-manager /healthz', async () => {
      const r = await get({ url: `https://127.0.0.1:${kcmPort}/healthz`, insecure: true });
      return r.status === 200 ? true : undefined;
    });
    // The ServiceAccount controller creating `default/default` proves the controllers are running.
    await waitReady(kcm, timeoutMs, 'the default ServiceAccount', async () => {
      const r = await get({ url: `${server}/api/v1/namespaces/default/serviceaccounts/default`, ...tls });
      return r.status === 200 ? true : undefined;
    });

    const versionInfo = JSON.parse((await get({ url: `${server}/version`, ...tls })).text) as { gitVersion: string };
    return {
      server,
      kubeconfigPath,
      version: versionInfo.gitVersion,
      serviceAccountIssuer: issuer,
      caPem: pki.servingCa.certPem,
      stateDir,
      pki,
      pkiFiles: files,
      binaries,
      processes,
      restart: async (name) => {
        const { proc, ready, what } = restartable[name];
        await proc.restart();
        await waitReady(proc, timeoutMs, what, ready);
        // The apiserver reports ready only once it reaches etcd again.
        if (name === 'etcd') await waitReady(apiserver, timeoutMs, 'kube-apiserver /readyz', apiserverReady);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The `kubernetes` Service's address: the first of the range (10.0.0.0/24 → 10.0.0.1). */
function firstServiceIp(cidr: string): string {
  const octets = (cidr.split('/')[0] ?? '').split('.').map(Number);
  octets[3] = (octets[3] ?? 0) + 1;
  return octets.join('.');
}

async function waitReady(proc: SupervisedProcess, timeoutMs: number, what: string, probe: () => Promise<true | undefined>): Promise<void> {
  try {
    await pollUntil(
      async () => {
        proc.assertRunning();
        return probe();
      },
      { timeoutMs, intervalMs: 100, description: what, isFatal: (err) => err instanceof ControlPlaneError },
    );
  } catch (err) {
    proc.assertRunning();
    if (err instanceof PollTimeoutError) {
      throw new ControlPlaneError('StartTimeout', `${err.message}. Last lines of ${proc.logPath}:\n${proc.logTail(10)}`, { cause: err });
    }
    throw err;
  }
}

async function writePki(dir: string, pki: ControlPlanePki): Promise<Record<string, string>> {
  const files = {
    servingCaCert: join(dir, 'serving-ca.crt'),
    apiserverCert: join(dir, 'apiserver.crt'),
    apiserverKey: join(dir, 'apiserver.key'),
    clientCaCert: join(dir, 'client-ca.crt'),
    saPublic: join(dir, 'sa.pub'),
    saPrivate: join(dir, 'sa.key'),
    kubeletClientCert: join(dir, 'kubelet-client.crt'),
    kubeletClientKey: join(dir, 'kubelet-client.key'),
  };
  await writeFile(files.kubeletClientCert, pki.kubeletClient.certPem);
  await writeFile(files.kubeletClientKey, pki.kubeletClient.keyPem, { mode: 0o600 });
  await writeFile(files.servingCaCert, pki.servingCa.certPem);
  await writeFile(files.apiserverCert, pki.apiserver.certPem + pki.servingCa.certPem);
  await writeFile(files.apiserverKey, pki.apiserver.keyPem, { mode: 0o600 });
  await writeFile(files.clientCaCert, pki.clientCa.certPem);
  await writeFile(files.saPublic, pki.serviceAccount.publicKeyPem);
  await writeFile(files.saPrivate, pki.serviceAccount.privateKeyPem, { mode: 0o600 });
  return files;
}

export function kubeconfigYaml(server: string, caPem: string, client: { certPem: string; keyPem: string }, user: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kvsync-dev', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(client.certPem), 'client-key-data': b64(client.keyPem) } }],
    contexts: [{ name: 'kvsync-dev', context: { cluster: 'kvsync-dev', user } }],
    'current-context': 'kvsync-dev',
    preferences: {},
  });
}

/**
 * Lets anonymous callers read the ServiceAccount issuer discovery documents, as AKS's public OIDC
 * issuer does; Entra ID (here: the emulator) fetches them without credentials.
 */
async function allowAnonymousIssuerDiscovery(server: string, tls: { ca: string; cert: string; key: string }): Promise<void> {
  const body = JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'kvsync-dev:service-account-issuer-discovery-anonymous' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
  });
  // The bootstrap ClusterRole appears shortly after /readyz; retry until the binding is accepted.
  await pollUntil(
    async () => {
      const r = await get({ url: `${server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, method: 'POST', body, ...tls });
      if (r.status === 201 || r.status === 409) return true;
      throw new Error(`creating the issuer-discovery ClusterRoleBinding: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    },
    { timeoutMs: 30_000, description: 'the issuer-discovery ClusterRoleBinding' },
  );
}

interface GetOptions {
  url: string;
  method?: string;
  body?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

/** A tiny HTTP(S) client for readiness probes (no client library needed before the API is up). */
function get(o: GetOptions): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(o.url);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const options = {
      method: o.method ?? 'GET',
      headers,
      timeout: 5_000,
      ...(url.protocol === 'https:' ? { ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: !o.insecure } : {}),
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${o.url}`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * External Secrets Operator run as a process against the benchmark's control plane and Key Vault emulator.
 *
 * ESO's Azure provider takes its Entra endpoint from the cloud name (`https://login.microsoftonline.com/`
 * for the public cloud) and dials the vault host from `vaultUrl`. So ESO runs in its own mount namespace
 * (`unshare --mount`) where a bind-mounted /etc/hosts names login.microsoftonline.com and the emulator's
 * vault hosts as 127.0.0.1 and /etc/resolv.conf is empty (nothing else resolves); a TLS proxy on
 * 127.0.0.1:443, with a certificate for that one name, forwards to the emulator's Entra with the Host
 * rewritten; `SSL_CERT_FILE` holds the emulator's CA and the proxy's. Nothing addresses any other host.
 */
import { writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import { join } from 'node:path';
import { createEmulatorTls } from '../../src/emulator/tls.ts';
import { freePort } from '../../src/dev/ports.ts';
import { SupervisedProcess } from '../../src/dev/supervised-process.ts';
import { pollUntil } from '../../src/util/poll.ts';
import type { EsoBinary } from './eso-binary.ts';
import { httpGet } from './controller-process.ts';
import { childPid, cpuSecondsOf, memoryOf, type MemoryStatus } from './proc.ts';

export const ENTRA_HOST = 'login.microsoftonline.com';

/** The /etc/hosts ESO sees: loopback, the Entra host and every vault host, all on 127.0.0.1. */
export function hostsFile(vaultHosts: readonly string[]): string {
  return ['127.0.0.1 localhost', '::1 localhost', `127.0.0.1 ${ENTRA_HOST}`, ...vaultHosts.map((h) => `127.0.0.1 ${h}`), ''].join('\n');
}

/** A TLS listener on 127.0.0.1:443 for {@link ENTRA_HOST} that forwards every request to the emulator's Entra. */
export interface EntraProxy {
  /** PEM of the CA that signed the proxy's certificate. */
  caPem: string;
  /** Requests forwarded so far. */
  readonly forwarded: number;
  close(): Promise<void>;
}

export async function startEntraProxy(authorityHost: string, emulatorCaPem: string): Promise<EntraProxy> {
  const tls = await createEmulatorTls(new Date(), { dnsNames: [ENTRA_HOST] });
  const upstream = new URL(authorityHost);
  let forwarded = 0;
  const server: Server = createServer({ cert: tls.serverCertPem, key: tls.serverKeyPem }, (req, res) => {
    forwarded++;
    const out = request(
      new URL(req.url ?? '/', upstream),
      { method: req.method, headers: { ...req.headers, host: upstream.host }, ca: emulatorCaPem, timeout: 30_000 },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('timeout', () => out.destroy(new Error('upstream timeout')));
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`the Entra proxy cannot listen on 127.0.0.1:443 (${err.code ?? err.message}): it needs root or CAP_NET_BIND_SERVICE, and the port free`, { cause: err })),
    );
    server.listen(443, '127.0.0.1', resolve);
  });
  return {
    caPem: tls.caPem,
    get forwarded() {
      return forwarded;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface EsoProcessOptions {
  name: string;
  binary: EsoBinary;
  leash: string;
  kubeconfig: string;
  /** The only namespace ESO watches (`--namespace`). */
  namespace: string;
  concurrent: number;
  emulator: { authorityHost: string; caPem: string; vaultHosts: string[] };
  /** Where the hosts file, the CA bundle and the log go. */
  dir: string;
}

export class EsoProcess {
  readonly metricsUrl: string;
  readonly proxy: EntraProxy;
  readonly #proc: SupervisedProcess;

  private constructor(proc: SupervisedProcess, metricsUrl: string, proxy: EntraProxy) {
    this.#proc = proc;
    this.metricsUrl = metricsUrl;
    this.proxy = proxy;
  }

  /** Starts the proxy and ESO; resolves once ESO's /metrics answers. */
  static async start(o: EsoProcessOptions): Promise<EsoProcess> {
    const proxy = await startEntraProxy(o.emulator.authorityHost, o.emulator.caPem);
    try {
      const hosts = join(o.dir, `${o.name}.hosts`);
      const resolv = join(o.dir, `${o.name}.resolv.conf`);
      const caBundle = join(o.dir, `${o.name}.ca.pem`);
      await writeFile(hosts, hostsFile(o.emulator.vaultHosts));
      await writeFile(resolv, '# no name servers: ESO resolves only what its hosts file names\n');
      await writeFile(caBundle, `${o.emulator.caPem.trim()}\n${proxy.caPem.trim()}\n`);
      const port = await freePort();
      // unshare execs sh, sh execs env, env execs ESO: leash's child is ESO itself (its pid for /proc).
      const script = 'mount --bind "$1" /etc/hosts && { [ ! -e /etc/resolv.conf ] || mount --bind "$2" /etc/resolv.conf; } && shift 2 && exec "$@"';
      const args = [
        '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'eso-namespace', hosts, resolv,
        'env', `KUBECONFIG=${o.kubeconfig}`, `SSL_CERT_FILE=${caBundle}`, 'SSL_CERT_DIR=/nonexistent',
        o.binary.path,
        '--concurrent', String(o.concurrent),
        '--namespace', o.namespace,
        '--metrics-addr', `127.0.0.1:${port}`,
        '--enable-leader-election=false',
        '--loglevel', 'error',
      ];
      const proc = new SupervisedProcess(o.name, o.leash, 'unshare', args, join(o.dir, `${o.name}.log`));
      const eso = new EsoProcess(proc, `http://127.0.0.1:${port}/metrics`, proxy);
      await pollUntil(
        async () => {
          if (!proc.running) throw new Error(`ESO exited:\n${proc.logTail(20)}`);
          return (await httpGet(eso.metricsUrl).catch(() => ({ status: 0 }))).status === 200 ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250, description: 'ESO to serve /metrics', isFatal: (err) => err instanceof Error && err.message.startsWith('ESO exited') },
      );
      return eso;
    } catch (err) {
      await proxy.close();
      throw err;
    }
  }

  pid(): number {
    const leashPid = this.#proc.pid;
    if (leashPid === undefined) throw new Error('the ESO process has no pid');
    return childPid(leashPid);
  }

  memory(): MemoryStatus {
    return memoryOf(this.pid());
  }

  cpuSeconds(): number {
    return cpuSecondsOf(this.pid());
  }

  async metrics(): Promise<string> {
    const r = await httpGet(this.metricsUrl);
    if (r.status !== 200) throw new Error(`GET ESO /metrics: HTTP ${r.status}`);
    return r.text;
  }

  logTail(lines: number): string {
    return this.#proc.logTail(lines);
  }

  async stop(): Promise<void> {
    await this.#proc.stop(30_000);
    await this.proxy.close();
  }
}

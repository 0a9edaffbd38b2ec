/**
 * A plain-HTTP proxy in front of kube-apiserver for one controller: it forwards every request as the
 * admin (client certificate) and can, on demand, close the watches it carries, answer new watches
 * with 410 Gone (as the apiserver does when the requested resourceVersion is compacted), or answer
 * every request with 429 Too Many Requests and a Retry-After (as priority and fairness does).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { RunningControlPlane } from '../../../src/dev/control-plane.ts';

export type ProxyMode = 'forward' | 'gone' | 'throttle';

export interface ProxyCounts {
  forwarded: number;
  /** Watch requests answered 410 Gone. */
  gone: number;
  /** Requests answered 429. */
  throttled: number;
  /** Watches closed by {@link ApiserverProxy.closeWatches}. */
  closed: number;
}

function isWatch(req: IncomingMessage): boolean {
  return /[?&]watch=(true|1)\b/.test(req.url ?? '');
}

function status(res: ServerResponse, code: number, reason: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

export class ApiserverProxy {
  mode: ProxyMode = 'forward';
  readonly counts: ProxyCounts = { forwarded: 0, gone: 0, throttled: 0, closed: 0 };
  readonly #server: Server;
  readonly #target: URL;
  readonly #tls: { ca: string; cert: string; key: string };
  readonly #watches = new Set<ServerResponse>();

  private constructor(controlPlane: RunningControlPlane) {
    this.#target = new URL(controlPlane.server);
    this.#tls = { ca: controlPlane.pki.servingCa.certPem, cert: controlPlane.pki.admin.certPem, key: controlPlane.pki.admin.keyPem };
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(controlPlane: RunningControlPlane): Promise<ApiserverProxy> {
    const proxy = new ApiserverProxy(controlPlane);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Writes a kubeconfig that talks to the apiserver through this proxy. */
  async writeKubeconfig(path: string): Promise<string> {
    await writeFile(path, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // Plain HTTP on loopback: client-node wants that said explicitly.
      clusters: [{ name: 'proxied', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'proxied', user: {} }],
      contexts: [{ name: 'proxied', context: { cluster: 'proxied', user: 'proxied' } }],
      'current-context': 'proxied',
    }), { mode: 0o600 });
    return path;
  }

  /** Ends every watch in flight (the client sees its stream end). */
  closeWatches(): void {
    for (const res of this.#watches) {
      this.counts.closed += 1;
      res.destroy();
    }
    this.#watches.clear();
  }

  async stop(): Promise<void> {
    this.closeWatches();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.mode === 'throttle') {
      this.counts.throttled += 1;
      req.resume();
      status(res, 429, 'TooManyRequests', 'Too many requests, please try again later.', { 'Retry-After': '1' });
      return;
    }
    if (this.mode === 'gone' && isWatch(req)) {
      // As the apiserver answers a watch from a compacted resourceVersion: 200, one ERROR event, end.
      this.counts.gone += 1;
      req.resume();
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    this.counts.forwarded += 1;
    const headers = { ...req.headers, host: this.#target.host };
    const upstream = httpsRequest(
      { hostname: this.#target.hostname, port: this.#target.port, path: req.url, method: req.method, headers, ...this.#tls },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      if (res.headersSent) res.destroy();
      else status(res, 503, 'ServiceUnavailable', 'the apiserver is not reachable');
    });
    if (isWatch(req)) {
      this.#watches.add(res);
      res.on('close', () => {
        this.#watches.delete(res);
        upstream.destroy();
      });
    }
    req.pipe(upstream);
  }
}

/**
 * A hostile Azure in front of the emulator: an HTTPS proxy for Entra ID and the vaults and an HTTP
 * proxy for IMDS, with their own CA, that pass every request to the emulator unless the test's
 * `answer` takes it and answers whatever a hostile or broken service could (huge bodies, HTML,
 * errors echoing markers, redirects, hangs). Its endpoints file is the emulator's with the proxy's
 * origins, so kvsync (controller, render, mount) talks to the proxy exactly as it would to Azure.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEndpointsFile, type EmulatorEndpoints } from '../../src/keyvault/endpoints-file.ts';
import { createEmulatorTls } from '../../src/emulator/tls.ts';

/** A request as the proxy saw it. */
export interface SeenRequest {
  service: 'entra' | 'vault' | 'imds';
  method: string;
  /** Host header without port, e.g. `devkv.vault.azure.net` or `127.0.0.1`. */
  host: string;
  /** Path and query. */
  path: string;
  authorized: boolean;
  body: string;
}

/** What the proxy sends instead of the emulator's answer. */
export type HostileAnswer =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer }
  /** Sends `chunks` of `chunkBytes` (a large body without holding it in memory). */
  | { status: number; headers?: Record<string, string>; chunkBytes: number; chunks: number }
  /** Closes the connection without an answer. */
  | { destroy: true };

export type Answerer = (req: SeenRequest) => HostileAnswer | undefined;

export interface AzureProxy {
  endpointsFile: string;
  endpoints: EmulatorEndpoints;
  /** Set per test; undefined passes everything through. */
  answer: Answerer | undefined;
  /** Requests the proxy answered itself, in order. */
  hostile: SeenRequest[];
  stop(): Promise<void>;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function send(res: ServerResponse, a: HostileAnswer): Promise<void> {
  if ('destroy' in a) {
    res.socket?.destroy();
    return;
  }
  if ('chunks' in a) {
    res.writeHead(a.status, a.headers ?? {});
    const chunk = Buffer.alloc(a.chunkBytes, 0x61);
    for (let i = 0; i < a.chunks && !res.destroyed; i++) {
      if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', r).once('close', r));
    }
    res.end();
    return;
  }
  res.writeHead(a.status, a.headers ?? {});
  res.end(a.body ?? '');
}

export async function startAzureProxy(emulatorEndpointsFile: string): Promise<AzureProxy> {
  const upstream = await readEndpointsFile(emulatorEndpointsFile);
  const upstreamCa = await readFile(upstream.caFile, 'utf8');
  const authority = new URL(upstream.authorityHost);
  const imds = new URL(upstream.imdsEndpoint);
  const vaultPort = Number(new URL(Object.values(upstream.vaults)[0] ?? upstream.authorityHost).port);
  const tls = await createEmulatorTls(new Date());
  const proxy: AzureProxy = { endpointsFile: '', endpoints: upstream, answer: undefined, hostile: [], stop: () => Promise.resolve() };

  const handle = (service: 'https' | 'imds') => async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readAll(req);
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const seen: SeenRequest = {
      service: service === 'imds' ? 'imds' : host.includes('.vault.') ? 'vault' : 'entra',
      method: req.method ?? 'GET',
      host,
      path: req.url ?? '/',
      authorized: req.headers.authorization !== undefined,
      body: body.toString('utf8'),
    };
    const hostile = proxy.answer?.(seen);
    if (hostile !== undefined) {
      proxy.hostile.push(seen);
      await send(res, hostile);
      return;
    }
    const target = service === 'imds' ? imds : seen.service === 'vault' ? new URL(`https://${host}:${vaultPort}`) : authority;
    const headers = { ...req.headers };
    const forward = (service === 'imds' ? httpRequest : httpsRequest)(
      {
        host: '127.0.0.1',
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        ...(service === 'imds' ? {} : { ca: upstreamCa, servername: target.hostname === '127.0.0.1' ? undefined : target.hostname }),
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', () => res.socket?.destroy());
    forward.end(body);
  };
  const swallow = (h: (req: IncomingMessage, res: ServerResponse) => Promise<void>) => (req: IncomingMessage, res: ServerResponse): void => {
    h(req, res).catch(() => res.socket?.destroy());
  };
  const https = createHttpsServer({ cert: tls.serverCertPem, key: tls.serverKeyPem }, swallow(handle('https')));
  const http = createHttpServer(swallow(handle('imds')));
  // Idle keep-alive sockets stay open for the whole test: closing one while kvsync's agent reuses it
  // would be a connection reset no test case asked for.
  https.keepAliveTimeout = 10 * 60_000;
  http.keepAliveTimeout = 10 * 60_000;
  const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
  const httpsPort = await listen(https);
  const httpPort = await listen(http);

  const dir = await mkdtemp(join(tmpdir(), 'kvsync-azure-proxy-'));
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, tls.caPem);
  const endpoints: EmulatorEndpoints = {
    ...upstream,
    caFile,
    authorityHost: `https://127.0.0.1:${httpsPort}`,
    imdsEndpoint: `http://127.0.0.1:${httpPort}`,
    vaults: Object.fromEntries(Object.entries(upstream.vaults).map(([name, url]) => [name, `https://${new URL(url).hostname}:${httpsPort}`])),
  };
  proxy.endpoints = endpoints;
  proxy.endpointsFile = join(dir, 'endpoints.json');
  await writeFile(proxy.endpointsFile, JSON.stringify(endpoints));
  proxy.stop = async () => {
    const close = (s: Server): Promise<void> =>
      new Promise((r) => {
        s.closeAllConnections();
        s.close(() => r());
      });
    await Promise.all([close(https), close(http)]);
  };
  return proxy;
}

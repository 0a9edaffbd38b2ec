/**
 * A tiny HTTP server for the sidecar's probes: `GET /readyz` answers 200 once the first complete write
 * is done and 503 before; `GET /healthz` answers 200 while the process runs. Nothing else is served.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReadinessServer {
  port: number;
  close(): Promise<void>;
}

export async function startReadinessServer(port: number, host: string, isReady: () => boolean): Promise<ReadinessServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const [status, body] = path === '/healthz' ? [200, 'ok'] : path === '/readyz' ? (isReady() ? [200, 'ready'] : [503, 'not ready: no complete write yet']) : [404, 'not found'];
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`${body}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Loopback port helpers for the local control plane. */
import { createServer } from 'node:net';
import { ControlPlaneError } from './errors.ts';

/** A port the kernel reports free on `host` right now (a race remains; callers retry on EADDRINUSE). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Throws PortInUse, naming the flag to change, when `port` on 127.0.0.1 is taken. */
export function assertPortFree(port: number, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ControlPlaneError('PortInUse', `port ${port} on 127.0.0.1 is already in use by another process; pick a free one with ${flag}, or omit it to get a free port`)
          : err,
      );
    });
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

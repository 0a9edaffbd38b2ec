/**
 * Servers that hold a client without ever finishing an answer, for the tests of request deadlines:
 * - `silent`: accepts the connection (and the TLS handshake, with `tls`), reads, never writes a byte;
 *   an HTTPS client of a `silent` server without `tls` waits for a TLS handshake that never comes;
 * - `trickle-body`: answers `200` with complete headers at once, then the body a byte per interval;
 * - `trickle-headers`: sends the status line and headers a byte per interval.
 * Each counts the connections it accepted, those still open, and those the client closed.
 */
import { once } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

export type StallMode = 'silent' | 'trickle-body' | 'trickle-headers';

export interface StallingServer {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections still open. */
  readonly open: number;
  /** Connections the client closed (the server never closes one before `stop`). */
  readonly closedByClient: number;
  /** Bytes sent in trickles so far. */
  readonly trickled: number;
  stop(): Promise<void>;
}

export interface StallingServerOptions {
  mode: StallMode;
  /** Serve TLS with this certificate and key (PEM); plain TCP without. */
  tls?: { certPem: string; keyPem: string };
  /** Interval between trickled bytes; default 1 s. */
  intervalMs?: number;
}

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 1000000\r\n\r\n';

export async function startStallingServer(opts: StallingServerOptions): Promise<StallingServer> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  let closedByClient = 0;
  let trickled = 0;
  let stopping = false;
  const intervalMs = opts.intervalMs ?? 1000;

  const trickle = (socket: Socket, bytes: string): void => {
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return;
      socket.write(bytes[i % bytes.length] ?? ' ');
      trickled += 1;
      i += 1;
    }, intervalMs);
    timers.add(timer);
    socket.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  };
  const onConnection = (socket: Socket): void => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      if (!stopping) closedByClient += 1;
    });
    if (opts.mode === 'silent') {
      socket.resume();
      return;
    }
    socket.once('data', () => {
      if (opts.mode === 'trickle-body') {
        socket.write(HEAD);
        trickle(socket, '{"value":"');
      } else {
        trickle(socket, HEAD);
      }
    });
  };

  // TLS sockets count from the handshake (secureConnection), plain ones from the accept.
  const server: Server = opts.tls === undefined ? createTcpServer(onConnection) : createTlsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, onConnection);
  // Every raw connection, handshake done or not, so stop() never waits for a client.
  const raw = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    raw.add(s);
    s.once('close', () => raw.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    get closedByClient() {
      return closedByClient;
    },
    get trickled() {
      return trickled;
    },
    stop: async () => {
      stopping = true;
      for (const t of timers) clearInterval(t);
      for (const s of [...sockets, ...raw]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The faults that act on the connection or on the answer's bytes rather than on its status, shared by
 * the Key Vault, Entra ID and IMDS handlers: a closed connection (`drop`), a reset one (`reset`, TCP
 * RST), an answer cut off after half its body under its full Content-Length (`truncate`), and the real
 * answer under another Content-Type (`contentType`).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { TrafficControl, TrafficDecision } from './traffic.ts';

/**
 * Carries out `decision` where it concerns the connection. Returns true when the connection is gone
 * and nothing may be sent; otherwise the handler answers as usual (through `res.writeHead` and
 * `res.end`, which a `truncate` or `contentType` decision has spoiled by then).
 */
export function enactConnectionFault(decision: TrafficDecision, req: IncomingMessage, res: ServerResponse): boolean {
  switch (decision.action) {
    case 'drop':
      req.socket.destroy();
      return true;
    case 'reset':
      resetConnection(req.socket);
      return true;
    case 'truncate':
      cutOffMidBody(req, res);
      return false;
    case 'contentType':
      relabel(res, decision.contentType);
      return false;
    default:
      return false;
  }
}

/**
 * Sends a TCP RST. A TLS socket cannot be reset itself (its handle is the TLS layer), so the TCP
 * socket under it is: Node keeps it as the TLS socket's `_parent`.
 */
function resetConnection(socket: Socket): void {
  const tcp = (socket as Socket & { _parent?: unknown })._parent;
  (tcp instanceof Socket ? tcp : socket).resetAndDestroy();
}

/** The first half of the body is sent, then the connection is closed short of the announced length. */
function cutOffMidBody(req: IncomingMessage, res: ServerResponse): void {
  const end = (chunk?: unknown): ServerResponse => {
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.alloc(0);
    if (!res.hasHeader('content-length') && !res.headersSent) res.setHeader('Content-Length', String(body.length));
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy());
    return res;
  };
  res.end = end as ServerResponse['end'];
}

/** Every Content-Type the handler sets is replaced by `contentType`. */
function relabel(res: ServerResponse, contentType: string): void {
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => ServerResponse;
  const relabelled = (status: number, headers: OutgoingHttpHeaders = {}): ServerResponse => {
    const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-type'));
    if (res.hasHeader('content-type')) res.removeHeader('content-type');
    return writeHead(status, { ...kept, 'Content-Type': contentType });
  };
  res.writeHead = relabelled as ServerResponse['writeHead'];
}

/** A rejection the identity side sends in its own shape (Entra's OAuth error body, IMDS's). */
export type RejectionSender = (status: number, retryAfterSeconds: number | undefined) => void;

/**
 * Applies the traffic decision for one token request of Entra ID or IMDS (`operation` `token` or
 * `imdsToken`). Returns the status to count when the fault answered (0: no answer), or undefined
 * when the request goes on (its answer possibly spoiled).
 */
export async function applyTokenFault(traffic: TrafficControl | undefined, operation: 'token' | 'imdsToken', req: IncomingMessage, res: ServerResponse, reject: RejectionSender): Promise<number | undefined> {
  if (traffic === undefined) return undefined;
  const decision = traffic.decide('', operation);
  if (decision.delayMs > 0) await new Promise((r) => setTimeout(r, decision.delayMs));
  if (enactConnectionFault(decision, req, res)) return 0;
  if (decision.action !== 'reject') return undefined;
  reject(decision.status, decision.retryAfterSeconds);
  return decision.status;
}

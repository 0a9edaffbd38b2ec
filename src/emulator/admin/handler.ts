/**
 * The admin API under `<adminUrl>` (HTTPS, loopback clients only, no token):
 *
 * - `GET  /admin/requests` → `[{"vault","operation","status","count"}]`; `DELETE /admin/requests` resets.
 * - `POST /admin/faults` `{vault?, operation?, status?|latencyMs?|drop?, retryAfterSeconds?, count?|durationSeconds?}`
 *   → 201 with the fault; `GET /admin/faults`; `DELETE /admin/faults[?vault=&operation=]` clears all, or those
 *   added for that vault and/or operation.
 * - `GET /admin/throttling` → `{vault: requestsPer10s}`; `PUT /admin/throttling` `{vault?, requestsPer10s}`.
 * - `GET /admin/time` → `{nowSeconds, offsetSeconds}`; `POST /admin/time` `{shiftSeconds}` (relative) or
 *   `{offsetSeconds}` (absolute); `DELETE /admin/time` resets. Runs the expiry check right away.
 * - `GET /admin/certificate-creation` → `{pendingSeconds}`; `PUT` `{pendingSeconds}` sets how long a created
 *   certificate version stays pending (emulator clock seconds; 0 = stored at once).
 * - `GET /admin/token-lifetime` → `{lifetimeSeconds}`; `PUT` `{lifetimeSeconds}` sets the lifetime of the access
 *   tokens Entra ID and IMDS issue from then on (default 3599).
 * - `/admin/eventgrid/...` is delegated to the Event Grid publisher's admin handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { RouteHandler } from '../identity/contract.ts';
import type { RequestCounters } from './counters.ts';
import { FaultSpecError, parseFaultSpec, type TrafficControl } from './traffic.ts';

export const ADMIN_PREFIX = '/admin';

export interface AdminHandlerOptions {
  counters: RequestCounters;
  traffic: TrafficControl;
  clock: Clock;
  vaultNames: () => string[];
  /** Runs the near-expiry/expired check (after a time shift). */
  checkExpiry: () => void;
  /** How long created certificate versions stay pending; changed in place by `PUT /certificate-creation`. */
  certificateCreation: { pendingSeconds: number };
  /** Lifetime of issued access tokens; changed in place by `PUT /token-lifetime`. */
  tokenIssuance: { lifetimeSeconds: number };
  eventGrid?: RouteHandler;
}

class AdminError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new AdminError(413, 'BodyTooLarge', 'admin request body exceeds 64 KiB');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminError(400, 'InvalidJson', 'admin request body is not valid JSON');
  }
}

const isLoopback = (address: string | undefined): boolean => address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || (address?.startsWith('127.') ?? false);

export function createAdminHandler(opts: AdminHandlerOptions): RouteHandler {
  return async (req, res, url) => {
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== ADMIN_PREFIX && !path.startsWith(`${ADMIN_PREFIX}/`)) return false;
    try {
      if (!isLoopback(req.socket.remoteAddress)) throw new AdminError(403, 'NotLoopback', 'the admin API only answers loopback clients');
      if (opts.eventGrid !== undefined && path.startsWith(`${ADMIN_PREFIX}/eventgrid`) && (await opts.eventGrid(req, res, url))) return true;
      await route(req, res, url, path.slice(ADMIN_PREFIX.length), opts);
    } catch (err) {
      if (err instanceof AdminError) send(res, err.status, { error: { code: err.reason, message: err.message } });
      else if (err instanceof FaultSpecError) send(res, 400, { error: { code: err.reason, message: err.message } });
      else send(res, 500, { error: { code: 'InternalError', message: err instanceof Error ? err.message : String(err) } });
    }
    return true;
  };
}

/** `{[name]: value}` of a query parameter that is given, else `{}`. */
function optionalParam(url: URL, name: 'vault' | 'operation'): { vault?: string; operation?: string } {
  const value = url.searchParams.get(name);
  return value === null || value === '' ? {} : { [name]: value };
}

async function route(req: IncomingMessage, res: ServerResponse, url: URL, rest: string, opts: AdminHandlerOptions): Promise<void> {
  const method = req.method ?? 'GET';
  const key = `${method} ${rest}`;
  switch (key) {
    case 'GET ':
      send(res, 200, { vaults: opts.vaultNames(), endpoints: ['/admin/requests', '/admin/faults', '/admin/throttling', '/admin/time', '/admin/certificate-creation', '/admin/token-lifetime', '/admin/eventgrid/subscriptions'] });
      return;
    case 'GET /requests':
      send(res, 200, opts.counters.list());
      return;
    case 'DELETE /requests':
      opts.counters.reset();
      send(res, 204);
      return;
    case 'GET /faults':
      send(res, 200, opts.traffic.faults());
      return;
    case 'POST /faults': {
      const fault = parseFaultSpec(await readJson(req), Date.now());
      if (fault.vault !== '*' && !opts.vaultNames().includes(fault.vault)) throw new AdminError(400, 'UnknownVault', `unknown vault "${fault.vault}"`);
      opts.traffic.addFault(fault);
      send(res, 201, fault);
      return;
    }
    case 'DELETE /faults':
      opts.traffic.clearFaults({ ...optionalParam(url, 'vault'), ...optionalParam(url, 'operation') });
      send(res, 204);
      return;
    case 'GET /throttling':
      send(res, 200, opts.traffic.limits());
      return;
    case 'PUT /throttling': {
      const body = (await readJson(req)) as { vault?: unknown; requestsPer10s?: unknown };
      if (typeof body.requestsPer10s !== 'number' || !Number.isInteger(body.requestsPer10s) || body.requestsPer10s < 1) {
        throw new AdminError(400, 'InvalidThrottling', 'requestsPer10s must be a positive integer');
      }
      if (body.vault !== undefined && typeof body.vault !== 'string') throw new AdminError(400, 'InvalidThrottling', 'vault must be a string');
      const targets = body.vault === undefined || body.vault === '*' ? opts.vaultNames() : [body.vault.toLowerCase()];
      for (const v of targets) {
        if (!opts.vaultNames().includes(v)) throw new AdminError(400, 'UnknownVault', `unknown vault "${v}"`);
        opts.traffic.setLimit(v, body.requestsPer10s);
      }
      send(res, 200, opts.traffic.limits());
      return;
    }
    case 'GET /time':
      send(res, 200, { nowSeconds: opts.clock.nowSeconds(), offsetSeconds: opts.clock.offsetMs() / 1000 });
      return;
    case 'POST /time': {
      const body = (await readJson(req)) as { shiftSeconds?: unknown; offsetSeconds?: unknown };
      if (typeof body.shiftSeconds === 'number' && Number.isFinite(body.shiftSeconds)) opts.clock.shift(body.shiftSeconds * 1000);
      else if (typeof body.offsetSeconds === 'number' && Number.isFinite(body.offsetSeconds)) opts.clock.shift(body.offsetSeconds * 1000 - opts.clock.offsetMs());
      else throw new AdminError(400, 'InvalidTimeShift', 'give shiftSeconds (relative) or offsetSeconds (absolute) as a number');
      opts.checkExpiry();
      send(res, 200, { nowSeconds: opts.clock.nowSeconds(), offsetSeconds: opts.clock.offsetMs() / 1000 });
      return;
    }
    case 'GET /certificate-creation':
      send(res, 200, opts.certificateCreation);
      return;
    case 'PUT /certificate-creation': {
      const body = (await readJson(req)) as { pendingSeconds?: unknown };
      if (typeof body.pendingSeconds !== 'number' || !Number.isFinite(body.pendingSeconds) || body.pendingSeconds < 0) {
        throw new AdminError(400, 'InvalidCertificateCreation', 'pendingSeconds must be a non-negative number');
      }
      opts.certificateCreation.pendingSeconds = body.pendingSeconds;
      send(res, 200, opts.certificateCreation);
      return;
    }
    case 'GET /token-lifetime':
      send(res, 200, opts.tokenIssuance);
      return;
    case 'PUT /token-lifetime': {
      const body = (await readJson(req)) as { lifetimeSeconds?: unknown };
      if (typeof body.lifetimeSeconds !== 'number' || !Number.isInteger(body.lifetimeSeconds) || body.lifetimeSeconds < 1 || body.lifetimeSeconds > 86_400) {
        throw new AdminError(400, 'InvalidTokenLifetime', 'lifetimeSeconds must be an integer from 1 to 86400');
      }
      opts.tokenIssuance.lifetimeSeconds = body.lifetimeSeconds;
      send(res, 200, opts.tokenIssuance);
      return;
    }
    case 'DELETE /time':
      opts.clock.reset();
      send(res, 200, { nowSeconds: opts.clock.nowSeconds(), offsetSeconds: 0 });
      return;
    default:
      throw new AdminError(404, 'NotFound', `no admin route ${method} ${ADMIN_PREFIX}${rest}`);
  }
}

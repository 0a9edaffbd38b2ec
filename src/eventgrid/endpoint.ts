/**
 * The push-refresh endpoint Event Grid delivers to: `POST|OPTIONS <path>` (default `/eventgrid`) over
 * HTTPS (`certDir` with tls.crt/tls.key, reloaded when they change) or plain HTTP behind an ingress
 * that terminates TLS.
 *
 * Every request is authenticated first (shared key or Entra token; 401 and nothing else otherwise, the
 * body is not even read). Then: OPTIONS → the CloudEvents abuse-protection answer; POST → the body
 * (≤ 1 MiB, Event Grid's own limit; 413 above) is parsed (400 malformed, 415 other media types): a
 * validation event is answered with its code; Key Vault "new version" events trigger a push refresh —
 * on the leader only: another replica answers 503 so that Event Grid retries (through the Service,
 * which may route the retry to the leader); every other event type is acknowledged with 200.
 * Logs name the event type, vault, object and version, never a header, key, token or event body.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseHostPort } from '../controller/health.ts';
import { FileCertificateSource } from '../webhook/certificates.ts';
import type { DeliveryAuthenticator, DeliveryCredentials } from './auth.ts';
import { EventGridRequestError } from './errors.ts';
import { abuseProtectionAnswer, validationAnswer, type HandshakeAnswer } from './handshake.ts';
import type { EventGridMetrics } from './metrics.ts';
import type { RefreshOutcome } from './push-refresh.ts';
import { isNewVersionEvent, keyVaultChangeOf, parseDelivery, SUBSCRIPTION_VALIDATION_EVENT, type KeyVaultObjectChange } from './schema.ts';

/** Event Grid's maximum event (and batch) size. */
export const MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_EVENTGRID_PATH = '/eventgrid';

/** pino-compatible subset. */
export interface EventGridLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface EventGridEndpointOptions {
  /** `host:port`; port 0 picks a free one. */
  addr: string;
  path?: string;
  /** Directory with tls.crt and tls.key: serve HTTPS; plain HTTP when undefined. */
  certDir?: string | undefined;
  authenticator: DeliveryAuthenticator;
  isLeader(): boolean;
  refresh(change: KeyVaultObjectChange): { outcome: RefreshOutcome; keys: string[] };
  metrics?: EventGridMetrics | undefined;
  log: EventGridLogger;
  maxBodyBytes?: number;
  /** Certificate file poll interval; default 10 s. */
  certCheckIntervalMs?: number;
}

export interface RunningEventGridEndpoint {
  /** `host:port` actually bound. */
  address: string;
  port: number;
  /** `http(s)://<bound host>:<port><path>` */
  url: string;
  close(): Promise<void>;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function send(res: http.ServerResponse, a: HandshakeAnswer): void {
  res.writeHead(a.status, a.headers).end(a.body);
}

function sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(text);
}

/** Reads the body up to `limit` bytes. @throws EventGridRequestError PayloadTooLarge */
function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new EventGridRequestError('PayloadTooLarge', `the body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/** The request handler (exported for tests that need no socket). */
export function eventGridHandler(opts: EventGridEndpointOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const path = (opts.path ?? DEFAULT_EVENTGRID_PATH).replace(/\/+$/, '');
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const count = (type: string, result: Parameters<EventGridMetrics['event']>[1]): void => opts.metrics?.event(type, result);
  // A public endpoint gets scanned: one warning per 10 s at most, with the number left out (the metric counts all).
  let lastRejectionLog = 0;
  let unloggedRejections = 0;

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://endpoint');
    if (url.pathname.replace(/\/+$/, '') !== path) {
      sendText(res, 404, 'not found');
      return;
    }
    if (req.method !== 'POST' && req.method !== 'OPTIONS') {
      sendText(res, 405, 'method not allowed', { Allow: 'POST, OPTIONS' });
      return;
    }
    const credentials: DeliveryCredentials = { sasKey: header(req, 'aeg-sas-key'), queryCode: url.searchParams.get('code') ?? undefined, authorization: header(req, 'authorization') };
    const auth = await opts.authenticator.authenticate(credentials);
    if (!auth.ok) {
      count('unknown', 'unauthenticated');
      if (Date.now() - lastRejectionLog >= 10_000) {
        opts.log.warn({ method: req.method, remote: req.socket.remoteAddress, why: auth.why, alsoRejectedSinceLastLog: unloggedRejections }, 'Event Grid delivery rejected: not authenticated');
        lastRejectionLog = Date.now();
        unloggedRejections = 0;
      } else {
        unloggedRejections++;
      }
      // The body is not read: close the connection rather than drain an unauthenticated upload.
      sendText(res, 401, 'unauthenticated', { connection: 'close', 'www-authenticate': 'Bearer' });
      return;
    }
    if (req.method === 'OPTIONS') {
      const answer = abuseProtectionAnswer(header(req, 'webhook-request-origin'), header(req, 'webhook-request-rate'));
      count(SUBSCRIPTION_VALIDATION_EVENT, answer.status === 200 ? 'validated' : 'malformed');
      if (answer.status === 200) opts.log.info({ schema: 'CloudEventSchemaV1_0', origin: answer.headers['WebHook-Allowed-Origin'] }, 'Event Grid abuse-protection handshake answered');
      send(res, answer);
      return;
    }
    const declared = Number(header(req, 'content-length') ?? '0');
    try {
      if (declared > limit) throw new EventGridRequestError('PayloadTooLarge', `the body exceeds ${limit} bytes`);
      const delivery = parseDelivery(await readBody(req, limit), header(req, 'content-type'));
      if (delivery.kind === 'validation') {
        count(SUBSCRIPTION_VALIDATION_EVENT, 'validated');
        opts.log.info({ schema: 'EventGridSchema', manualValidationOffered: delivery.validationUrl !== undefined }, 'Event Grid subscription validation answered');
        send(res, validationAnswer(delivery.validationCode));
        return;
      }
      // Parse every event before acting on any: a malformed batch is refused as a whole.
      const changes = delivery.events.flatMap((e) => (isNewVersionEvent(e.type) ? [keyVaultChangeOf({ ...e, type: e.type })] : []));
      if (changes.length > 0 && !opts.isLeader()) {
        for (const c of changes) count(c.type, 'not_leader');
        sendText(res, 503, 'not the leader; retry', { 'retry-after': '1' });
        return;
      }
      for (const e of delivery.events) if (!isNewVersionEvent(e.type)) count(e.type, 'ignored');
      for (const c of changes) {
        const { outcome, keys } = opts.refresh(c);
        count(c.type, outcome);
        opts.log.info({ type: c.type, vault: c.vaultName, object: c.objectName, version: c.version, outcome, keyVaultSyncs: keys.length }, 'Event Grid event');
      }
      res.writeHead(200).end();
    } catch (err) {
      if (err instanceof EventGridRequestError) {
        count('unknown', 'malformed');
        opts.log.warn({ reason: err.reason, detail: err.message }, 'Event Grid delivery refused');
        sendText(res, err.status, err.message, err.reason === 'PayloadTooLarge' ? { connection: 'close' } : {});
        return;
      }
      throw err;
    }
  };
}

/**
 * Starts the endpoint.
 * @throws WebhookCertificateError when `certDir` does not hold a usable pair; the listen error when the address is taken.
 */
export async function startEventGridEndpoint(opts: EventGridEndpointOptions): Promise<RunningEventGridEndpoint> {
  const { host, port } = parseHostPort(opts.addr);
  const handle = eventGridHandler(opts);
  const listener: http.RequestListener = (req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log.warn({ err: err instanceof Error ? err.name : typeof err }, 'Event Grid request failed');
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  };
  let files: FileCertificateSource | undefined;
  let server: http.Server | https.Server;
  if (opts.certDir !== undefined) {
    const tls = new FileCertificateSource({
      certFile: join(opts.certDir, 'tls.crt'),
      keyFile: join(opts.certDir, 'tls.key'),
      ...(opts.certCheckIntervalMs === undefined ? {} : { pollIntervalMs: opts.certCheckIntervalMs }),
      onChange: (c) => {
        (server as https.Server).setSecureContext({ cert: c.certPem, key: c.keyPem, minVersion: 'TLSv1.2' });
        opts.log.info({}, 'Event Grid endpoint certificate reloaded');
      },
      onError: (err) => opts.log.warn({ err: err instanceof Error ? err.message.split('\n')[0] : String(err) }, 'Event Grid endpoint certificate check failed; serving the previous one'),
    });
    const first = await tls.load();
    server = https.createServer({ cert: first.certPem, key: first.keyPem, minVersion: 'TLSv1.2' }, listener);
    files = tls;
  } else {
    server = http.createServer(listener);
  }
  // Event Grid waits 30 s for an answer; slow or stuck clients are cut off well before that.
  server.headersTimeout = 10_000;
  server.requestTimeout = 20_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  files?.start();
  const bound = server.address() as AddressInfo;
  const hostText = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const path = opts.path ?? DEFAULT_EVENTGRID_PATH;
  return {
    address: `${hostText}:${bound.port}`,
    port: bound.port,
    url: `${files === undefined ? 'http' : 'https'}://${hostText}:${bound.port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        files?.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

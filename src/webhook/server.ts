/**
 * The admission webhook's HTTPS server: `POST /mutate-pods` (AdmissionReview v1 in and out, the patch
 * as base64 JSON Patch) and `GET /healthz`. Self-contained so `kvsync controller` can mount it:
 *
 * ```ts
 * const certs = new SecretCertificateManager({ ..., onChange: (c) => webhook?.setCertificate(c) });
 * const first = await certs.ensure();
 * const webhook = await startWebhookServer({ port: 9443, certificate: first, view: kubeClusterView(kc), mutation });
 * certs.start();
 * ```
 *
 * Robustness: the body is bounded (413 above `maxBodyBytes`), malformed JSON or a non-AdmissionReview
 * is a 400, and nothing a client sends can crash the process. Only Pod CREATE is mutated; anything
 * else is allowed unchanged. A failure to read the cluster is answered with `allowed: false` and
 * code 500 — the same outcome failurePolicy Fail would give, with a clearer message.
 */
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import type { ServingCertificate } from './certificates.ts';
import type { AdmissionClusterView } from './kube-cluster-view.ts';
import { foreignNamespaceDenial, mutatePod, optedIn } from './mutate-pod.ts';
import type { MutationOptions, MutationResult } from './mutate-pod.ts';
import { INJECT_ENABLED, INJECT_LABEL } from './names.ts';
import { KvsyncError } from '../util/errors.ts';

/** pino-compatible subset; the default logs nothing. */
export interface WebhookLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface WebhookServerOptions {
  /** Default `0.0.0.0`. */
  host?: string;
  /** 0 = an ephemeral port (tests). */
  port: number;
  certificate: ServingCertificate;
  view: AdmissionClusterView;
  mutation: MutationOptions;
  /** Default 4 MiB: above the apiserver's 3 MiB request limit plus the review envelope. */
  maxBodyBytes?: number;
  logger?: WebhookLogger;
}

export interface RunningWebhook {
  /** The bound port. */
  port: number;
  /** `https://<host>:<port>`. */
  url: string;
  /** Serves a new certificate to new connections (rotation). */
  setCertificate(cert: ServingCertificate): void;
  close(): Promise<void>;
}

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  subResource?: string;
  operation?: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
  object?: unknown;
}

interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; message: string; reason?: string };
  warnings?: string[];
}

const silent: WebhookLogger = { info: () => undefined, warn: () => undefined };

class HttpError extends KvsyncError {
  override readonly name = 'HttpError';
  readonly status: number;
  constructor(status: number, reason: string, message: string) {
    super(reason, message);
    this.status = status;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      reject(new HttpError(413, 'BodyTooLarge', `body over ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, 'BodyTooLarge', `body over ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** @throws HttpError 400 when the body is not an AdmissionReview v1 with a request. */
function parseReview(body: Buffer): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'BadRequest', 'body is not JSON');
  }
  if (!isRecord(review) || review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    throw new HttpError(400, 'BadRequest', 'expected an admission.k8s.io/v1 AdmissionReview');
  }
  const request = review.request;
  if (!isRecord(request) || typeof request.uid !== 'string') throw new HttpError(400, 'BadRequest', 'AdmissionReview has no request.uid');
  return request as unknown as AdmissionRequest;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function toResponse(uid: string, result: MutationResult): AdmissionResponse {
  switch (result.kind) {
    case 'untouched':
      return { uid, allowed: true };
    case 'patch':
      return result.patch.length === 0
        ? { uid, allowed: true }
        : { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch), 'utf8').toString('base64') };
    case 'denied':
      return { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: `kvsync: ${result.error.message}` } };
  }
}

/** Decides one admission request; never throws. */
async function admit(request: AdmissionRequest, opts: WebhookServerOptions, log: WebhookLogger): Promise<AdmissionResponse> {
  const uid = request.uid;
  const isPodCreate = request.kind?.kind === 'Pod' && (request.kind.group ?? '') === '' && request.operation === 'CREATE' && (request.subResource ?? '') === '';
  if (!isPodCreate || !isRecord(request.object) || typeof request.namespace !== 'string') return { uid, allowed: true };
  const namespace = request.namespace;
  const pod = request.object as V1Pod;
  const fields = { uid, namespace, pod: pod.metadata?.name ?? pod.metadata?.generateName ?? '', dryRun: request.dryRun === true };
  // Only the request's namespace is ever looked at: a review whose Pod names another is refused first.
  const foreign = foreignNamespaceDenial(namespace, pod);
  if (foreign !== undefined) {
    log.info({ ...fields, reason: foreign.reason }, 'pod denied');
    return toResponse(uid, { kind: 'denied', error: foreign });
  }
  try {
    // Namespace labels: the opt-in check, and the KeyVaultIdentity grant of a mounted pod-identity sync.
    const excluded = !optedIn(namespace, { [INJECT_LABEL]: INJECT_ENABLED }, {}, opts.mutation.operatorNamespace);
    const namespaceLabels = excluded ? {} : await opts.view.getNamespaceLabels(namespace);
    const result = await mutatePod({ pod, namespace, namespaceLabels }, opts.view, opts.mutation);
    if (result.kind === 'denied') log.info({ ...fields, reason: result.error.reason, message: result.error.message }, 'pod denied');
    else if (result.kind === 'patch' && result.patch.length > 0) log.info({ ...fields, fields: result.patch.map((p) => p.path) }, 'pod mutated');
    return toResponse(uid, result);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.warn({ ...fields, err: message }, 'admission failed');
    return { uid, allowed: false, status: { code: 500, reason: 'InternalError', message: `kvsync webhook could not decide: ${message}` } };
  }
}

/** Starts the HTTPS server; resolves once it listens. */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<RunningWebhook> {
  const log = opts.logger ?? silent;
  const limit = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const server = createServer({ cert: opts.certificate.certPem, key: opts.certificate.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (path !== '/mutate-pods') return sendJson(res, 404, { message: 'not found' });
      if (req.method !== 'POST') return sendJson(res, 405, { message: 'POST only' });
      const request = parseReview(await readBody(req, limit));
      const response = await admit(request, opts, log);
      sendJson(res, 200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
    })().catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : 'internal error';
      if (!res.headersSent && !res.destroyed) sendJson(res, status, { message });
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '0.0.0.0';
  return {
    port,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    setCertificate(cert: ServingCertificate): void {
      server.setSecureContext({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.2' });
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * The Key Vault data-plane HTTP handler: challenge auth (401 before the body is read), token
 * verification, traffic control (throttling, injected faults), Azure RBAC, body parsing and the
 * operation itself; every answer is counted under its SDK-style operation name. Never throws: every
 * failure becomes Key Vault's status and error body.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { enactConnectionFault } from '../admin/connection-faults.ts';
import type { TrafficControl } from '../admin/traffic.ts';
import { KeyVaultError } from '../errors.ts';
import { KEY_VAULT_AUDIENCE, type AccessTokenVerifier, type RequestCounter, type TokenRejection, type VerifiedToken } from '../identity/contract.ts';
import { isAuthorized, type RoleAssignment } from './rbac.ts';
import { matchRoute, type Route } from './routes.ts';
import type { Vault } from './vault.ts';

/** Request bodies above this are refused before parsing (a 25 KB secret fits many times over). */
const MAX_BODY_BYTES = 1024 * 1024;
const SERVICE_VERSION = '1.9.0.0-kvsync-emulator';

export interface KeyVaultHandlerOptions {
  tenantId: string;
  /** `https://127.0.0.1:<port>` — the challenge's `authorization` is `<this>/<tenant>`. */
  authorityUrl: () => string;
  verifier: AccessTokenVerifier;
  assignments: () => readonly RoleAssignment[];
  /** Display name of a principal for 403 messages. */
  principalName: (objectId: string) => string | undefined;
  counters: RequestCounter;
  traffic: TrafficControl;
  /** Logs unexpected failures (never with secret values). */
  logError: (message: string) => void;
}

/** Handles one data-plane request for `vault`; `url` is the parsed request URL. */
export type KeyVaultHandler = (req: IncomingMessage, res: ServerResponse, url: URL, vault: Vault) => Promise<void>;

export function createKeyVaultHandler(opts: KeyVaultHandlerOptions): KeyVaultHandler {
  const challenge = (): string => `Bearer authorization="${opts.authorityUrl()}/${opts.tenantId}", resource="${KEY_VAULT_AUDIENCE}"`;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.headersSent || res.destroyed) return;
    const payload = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'Cache-Control': 'no-cache',
      Pragma: 'no-cache',
      Expires: '-1',
      'x-ms-request-id': randomUUID(),
      'x-ms-keyvault-service-version': SERVICE_VERSION,
      'x-ms-keyvault-region': 'emulator',
      'X-Content-Type-Options': 'nosniff',
      'Strict-Transport-Security': 'max-age=31536000;includeSubDomains',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(payload)) }),
      ...headers,
    });
    res.end(payload);
  };

  const sendError = (res: ServerResponse, err: KeyVaultError): number => {
    send(res, err.status, err.body(), err.headers);
    return err.status;
  };

  return async (req, res, url, vault) => {
    let operation = 'unknown';
    let status = 500;
    try {
      const route = matchRouteSafe(req.method ?? 'GET', url.pathname);
      if (route instanceof KeyVaultError) {
        // Unknown routes are still behind the challenge, as on Azure.
        status = authHeader(req) === undefined ? sendError(res, unauthorized('AKV10000: Request is missing a Bearer or PoP token.', challenge())) : sendError(res, route);
        return;
      }
      operation = route.operation;
      status = await handle(req, res, url, vault, route);
    } catch (err) {
      if (err instanceof KeyVaultError) status = sendError(res, err);
      else {
        opts.logError(`key vault ${vault.name} ${operation}: ${err instanceof Error ? err.message : String(err)}`);
        status = sendError(res, new KeyVaultError(500, 'InternalServerError', 'The emulator failed to process the request.'));
      }
    } finally {
      opts.counters.count(vault.name, operation, status);
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL, vault: Vault, route: Route): Promise<number> {
    // 1. Challenge before anything else, in particular before reading the body (the SDK's first
    //    request carries no token and no body).
    const header = authHeader(req);
    if (header === undefined) return sendError(res, unauthorized('AKV10000: Request is missing a Bearer or PoP token.', challenge()));
    const verification = await opts.verifier.verifyAccessToken(header);
    if (!verification.ok) return sendError(res, unauthorized(rejectionMessage(verification.rejection), challenge()));
    const token = verification.token;

    // 2. Throttling and injected faults.
    const decision = opts.traffic.decide(vault.name, route.operation);
    if (decision.delayMs > 0) await new Promise((r) => setTimeout(r, decision.delayMs));
    if (enactConnectionFault(decision, req, res)) return 0;
    if (decision.action === 'reject') {
      const headers: Record<string, string> = decision.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(decision.retryAfterSeconds) };
      return sendError(res, new KeyVaultError(decision.status, decision.code, decision.message, undefined, headers));
    }

    // 3. Azure RBAC.
    if (!isAuthorized(opts.assignments(), token.objectId, vault.name, route.action, route.scopes)) {
      return sendError(res, forbiddenByRbac(token, opts.principalName(token.objectId), route, vault.name));
    }

    // 4. Body, then the operation.
    const body = route.hasBody ? await readJsonBody(req) : {};
    const base = `https://${req.headers.host ?? `${vault.name}.vault.azure.net`}`;
    vault.settlePending();
    const result = await route.run(vault, base, url, body);
    send(res, result.status, result.body, result.headers);
    return result.status;
  }
}

function matchRouteSafe(method: string, pathname: string): Route | KeyVaultError {
  try {
    return matchRoute(method, pathname);
  } catch (err) {
    if (err instanceof KeyVaultError) return err;
    throw err;
  }
}

function authHeader(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined || !/^(bearer|pop)\s+\S/i.test(h)) return undefined;
  return h;
}

function unauthorized(message: string, challenge: string): KeyVaultError {
  return new KeyVaultError(401, 'Unauthorized', message, undefined, { 'WWW-Authenticate': challenge });
}

/** Key Vault's AKV100xx messages for refused tokens (AKV10022/AKV10032 follow Azure's wording). */
function rejectionMessage(r: TokenRejection): string {
  switch (r.reason) {
    case 'wrong-audience':
      return `AKV10022: Invalid audience. Expected ${KEY_VAULT_AUDIENCE}. ${r.message}`;
    case 'wrong-issuer':
    case 'wrong-tenant':
      return `AKV10032: Invalid issuer. ${r.message}`;
    case 'expired':
      return `AKV10033: Token is expired. ${r.message}`;
    case 'not-yet-valid':
      return `AKV10034: Token is not yet valid. ${r.message}`;
    case 'bad-signature':
      return `AKV10035: Invalid token signature. ${r.message}`;
    case 'malformed':
      return `AKV10001: Invalid token. ${r.message}`;
  }
}

function forbiddenByRbac(token: VerifiedToken, name: string | undefined, route: Route, vault: string): KeyVaultError {
  const object = route.scopes[0];
  const resource = `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/microsoft.keyvault/vaults/${vault}${object === undefined ? '' : `/${object}`}`;
  const message = [
    'Caller is not authorized to perform action on resource.',
    'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
    `Caller: appid=${token.clientId};oid=${token.objectId};iss=https://sts.windows.net/${token.tenantId}/${name === undefined ? '' : `;name=${name}`}`,
    `Action: '${route.action}'`,
    `Resource: '${resource}'`,
    'Assignment: (not found)',
    'DenyAssignmentId: null',
    'DecisionReason: null ',
    `Vault: ${vault};location=emulator`,
    '',
  ].join('\r\n');
  return new KeyVaultError(403, 'Forbidden', message, 'ForbiddenByRbac');
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new KeyVaultError(413, 'RequestEntityTooLarge', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new KeyVaultError(400, 'BadParameter', 'The request body is required.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeyVaultError(400, 'BadParameter', 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new KeyVaultError(400, 'BadParameter', 'The request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}

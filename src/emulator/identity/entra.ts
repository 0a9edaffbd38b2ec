/**
 * The emulated Entra ID, served under the authority host (HTTPS), with the paths MSAL calls:
 *
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration` (and the v1 `/{tenant}/.well-known/openid-configuration`)
 * - `GET /{tenant}/discovery/v2.0/keys` (and `/{tenant}/discovery/keys`, `/common/discovery/keys`): the JWKS
 * - `GET /common/discovery/instance` (also under any tenant): instance discovery
 * - `POST /{tenant}/oauth2/v2.0/token` (and v1 `/{tenant}/oauth2/token` with `resource=`): client credentials
 *   with `client_secret` (post or HTTP Basic) or with a `client_assertion` from a federated credential.
 *
 * Discovery documents name endpoints with the origin the client used (its Host header), so MSAL's issuer
 * check (same scheme, host and port as the authority) holds whether the client says 127.0.0.1 or localhost.
 * Managed identities are not clients of this endpoint (as in Azure): they get tokens from IMDS only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { applyTokenFault } from '../admin/connection-faults.ts';
import type { TrafficControl } from '../admin/traffic.ts';
import type { Clock } from '../clock.ts';
import type { ManagedIdentityConfig, RequestCounter, RouteHandler, ServicePrincipalConfig } from './contract.ts';
import type { TokenAuthority } from './authority.ts';
import { EntraError, entraErrors } from './entra-errors.ts';
import { FederatedAssertionVerifier } from './federation.ts';
import { RequestBodyError, readBody, requestOrigin, sendJson } from './http.ts';
import { objectIdOf, sameId } from './principals.ts';

export const CLIENT_ASSERTION_TYPE_JWT = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Scopes MSAL may add that are not resources. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
const TOKEN_BODY_LIMIT_BYTES = 256 * 1024;

export interface EntraHandlerOptions {
  tenantId: string;
  authority: TokenAuthority;
  servicePrincipals: ServicePrincipalConfig[];
  managedIdentities: ManagedIdentityConfig[];
  clock: Clock;
  counters: RequestCounter;
  /** CAs trusted when fetching a federated issuer's metadata (the kube-apiserver's CA). */
  trustedIssuerCaPems: string[];
  /** Lifetime of issued tokens, read per token; default 3599 s. */
  tokenLifetimeSeconds?: () => number;
  /** Injected faults for the token endpoint (operation `token`). */
  traffic?: TrafficControl;
  /** Diagnostics (never secrets or tokens), e.g. why a federated issuer's metadata could not be fetched. */
  log?: (line: string) => void;
}

/** Builds the Entra ID route handler; returns false for paths that are not Entra's. */
export function createEntraHandler(opts: EntraHandlerOptions): RouteHandler {
  const federation = new FederatedAssertionVerifier({ trustedCaPems: opts.trustedIssuerCaPems, ...(opts.log === undefined ? {} : { log: opts.log }) });
  return async (req, res, url) => {
    const route = matchRoute(url.pathname);
    if (route === undefined) {
      return false;
    }
    const origin = requestOrigin(req, opts.authority.authorityUrl());
    if (route.kind === 'token') {
      if (req.method !== 'POST') {
        sendMethodNotAllowed(res, 'POST');
        return true;
      }
      const injected = await applyTokenFault(opts.traffic, 'token', req, res, (status, retryAfterSeconds) =>
        sendJson(res, status, entraErrors.injected(status).body(opts.clock.nowMs(), origin), retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) }),
      );
      const status = injected ?? (await handleToken(req, res, route, origin, opts, federation));
      opts.counters.count('', 'token', status);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendMethodNotAllowed(res, 'GET');
      return true;
    }
    if (route.kind === 'instance-discovery') {
      sendJson(res, 200, instanceDiscovery(url, origin, opts.tenantId));
      return true;
    }
    if (route.tenant !== 'common' && !sameId(route.tenant, opts.tenantId)) {
      // What Entra answers for discovery under an unknown tenant.
      const err = entraErrors.tenantNotFound(route.tenant);
      sendJson(res, 400, { error: 'invalid_tenant', error_description: err.body(opts.clock.nowMs(), origin).error_description });
      return true;
    }
    if (route.kind === 'keys') {
      sendJson(res, 200, opts.authority.jwks(), { 'Cache-Control': 'max-age=86400, private' });
      return true;
    }
    sendJson(res, 200, openIdConfiguration(origin, route.tenant === 'common' ? opts.tenantId : route.tenant, route.kind === 'oidc-v1'));
    return true;
  };
}

type Route =
  | { kind: 'token'; tenant: string; v1: boolean }
  | { kind: 'oidc-v2' | 'oidc-v1' | 'keys'; tenant: string }
  | { kind: 'instance-discovery' };

function matchRoute(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  const [tenant, ...rest] = parts;
  if (tenant === undefined) {
    return undefined;
  }
  const tail = rest.join('/');
  switch (tail) {
    case 'oauth2/v2.0/token':
      return { kind: 'token', tenant: decodeURIComponent(tenant), v1: false };
    case 'oauth2/token':
      return { kind: 'token', tenant: decodeURIComponent(tenant), v1: true };
    case 'v2.0/.well-known/openid-configuration':
      return { kind: 'oidc-v2', tenant: decodeURIComponent(tenant) };
    case '.well-known/openid-configuration':
      return { kind: 'oidc-v1', tenant: decodeURIComponent(tenant) };
    case 'discovery/v2.0/keys':
    case 'discovery/keys':
      return { kind: 'keys', tenant: decodeURIComponent(tenant) };
    case 'discovery/instance':
      return { kind: 'instance-discovery' };
    default:
      return undefined;
  }
}

/** The OIDC discovery document, field for field like Entra's v2 (or v1) document. */
export function openIdConfiguration(origin: string, tenant: string, v1 = false): Record<string, unknown> {
  const base = `${origin}/${tenant}`;
  const v = v1 ? '' : '/v2.0';
  return {
    token_endpoint: `${base}/oauth2${v}/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery${v}/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: v1 ? `${origin}/${tenant}/` : `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/oauth2${v}/authorize`,
    device_authorization_endpoint: `${base}/oauth2${v}/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2${v}/logout`,
    claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

/** Instance discovery: this host is its own (only) alias, the tenant taken from `authorization_endpoint`. */
function instanceDiscovery(url: URL, origin: string, defaultTenant: string): Record<string, unknown> {
  let tenant = defaultTenant;
  const authorizationEndpoint = url.searchParams.get('authorization_endpoint');
  if (authorizationEndpoint !== null) {
    try {
      const first = new URL(authorizationEndpoint).pathname.split('/').find((p) => p !== '');
      tenant = first ?? defaultTenant;
    } catch {
      // keep the default tenant, as Entra does for an unparsable endpoint
    }
  }
  const host = new URL(origin).host;
  return {
    tenant_discovery_endpoint: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { error: 'invalid_request', error_description: `The request method must be ${allow}.` }, { Allow: allow });
}

/** Answers a token request; returns the HTTP status sent (for the counters). */
async function handleToken(
  req: IncomingMessage,
  res: ServerResponse,
  route: { tenant: string; v1: boolean },
  origin: string,
  opts: EntraHandlerOptions,
  federation: FederatedAssertionVerifier,
): Promise<number> {
  const correlationId = firstHeader(req, 'client-request-id');
  try {
    const form = await readForm(req);
    const body = await issueForForm(form, basicCredentials(req), route, opts, federation);
    sendJson(res, 200, body);
    return 200;
  } catch (err) {
    if (err instanceof EntraError) {
      sendJson(res, err.status, err.body(opts.clock.nowMs(), origin, correlationId), correlationId === undefined ? {} : { 'client-request-id': correlationId });
      return err.status;
    }
    if (err instanceof RequestBodyError) {
      const e = err.reason === 'BodyTooLarge' ? new EntraError(413, 'invalid_request', 90023, 'The request body is too large.') : entraErrors.missingParameter('grant_type');
      sendJson(res, e.status, e.body(opts.clock.nowMs(), origin, correlationId));
      return e.status;
    }
    throw err;
  }
}

interface TokenResponseBody {
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
  /** v1 endpoint only */
  resource?: string;
  expires_on?: string;
  not_before?: string;
}

async function issueForForm(
  form: URLSearchParams,
  basic: { clientId: string; secret: string } | undefined,
  route: { tenant: string; v1: boolean },
  opts: EntraHandlerOptions,
  federation: FederatedAssertionVerifier,
): Promise<TokenResponseBody> {
  if (!sameId(route.tenant, opts.tenantId)) {
    throw entraErrors.tenantNotFound(route.tenant);
  }
  const grantType = form.get('grant_type');
  if (grantType === null || grantType === '') {
    throw entraErrors.missingParameter('grant_type');
  }
  if (grantType !== 'client_credentials') {
    throw entraErrors.unsupportedGrantType(grantType);
  }
  const clientId = form.get('client_id') ?? basic?.clientId ?? '';
  if (clientId === '') {
    throw entraErrors.missingParameter('client_id');
  }
  const audience = route.v1 ? resourceParam(form) : scopeAudience(form);
  const principal = opts.servicePrincipals.find((sp) => sameId(sp.clientId, clientId));
  if (principal === undefined) {
    // Managed identities included: they are not confidential clients of the token endpoint.
    throw entraErrors.applicationNotFound(clientId, opts.tenantId);
  }
  const secret = form.get('client_secret') ?? basic?.secret;
  const assertion = form.get('client_assertion');
  let authMethod: '1' | '2';
  if (assertion !== null && assertion !== '') {
    const type = form.get('client_assertion_type') ?? '';
    if (type !== CLIENT_ASSERTION_TYPE_JWT) {
      throw entraErrors.invalidAssertionType(type);
    }
    await federation.verify(assertion, principal.federatedCredentials ?? []);
    authMethod = '2';
  } else if (secret !== undefined && secret !== null && secret !== '') {
    if (!(principal.secrets ?? []).some((s) => constantTimeEqual(s, secret))) {
      throw entraErrors.invalidClientSecret(principal.clientId);
    }
    authMethod = '1';
  } else {
    throw entraErrors.missingCredential();
  }
  // `claims` (CAE) is accepted and has no effect: the emulator never revokes sessions.
  const lifetime = opts.tokenLifetimeSeconds?.();
  const issued = await opts.authority.issueAccessToken({
    objectId: objectIdOf(principal),
    clientId: principal.clientId,
    audience,
    authMethod,
    ...(lifetime === undefined ? {} : { lifetimeSeconds: lifetime }),
  });
  const expiresIn = issued.expiresOn - opts.clock.nowSeconds();
  const body: TokenResponseBody = { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: issued.accessToken };
  if (route.v1) {
    body.resource = audience;
    body.expires_on = String(issued.expiresOn);
    body.not_before = String(issued.notBefore);
  }
  return body;
}

/** v2: exactly one `<resource>/.default` scope (besides OIDC scopes); the resource becomes `aud`. */
function scopeAudience(form: URLSearchParams): string {
  const raw = form.get('scope');
  if (raw === null || raw.trim() === '') {
    throw entraErrors.missingParameter('scope');
  }
  const scopes = raw.split(/\s+/).filter((s) => s !== '' && !OIDC_SCOPES.has(s));
  const [only, ...more] = scopes;
  if (only === undefined || more.length > 0 || !only.endsWith('/.default') || only === '/.default') {
    throw entraErrors.invalidScope(raw);
  }
  return only.slice(0, -'/.default'.length);
}

function resourceParam(form: URLSearchParams): string {
  const resource = form.get('resource');
  if (resource === null || resource === '') {
    throw entraErrors.missingParameter('resource');
  }
  return resource;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const text = await readBody(req, TOKEN_BODY_LIMIT_BYTES);
  return new URLSearchParams(text);
}

function basicCredentials(req: IncomingMessage): { clientId: string; secret: string } | undefined {
  const header = req.headers.authorization;
  if (header === undefined || !/^basic\s+/i.test(header)) {
    return undefined;
  }
  const decoded = Buffer.from(header.replace(/^basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    return undefined;
  }
  return { clientId: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
}

function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const value = Array.isArray(v) ? v[0] : v;
  return value !== undefined && /^[0-9a-fA-F-]{1,64}$/.test(value) ? value : undefined;
}

function constantTimeEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

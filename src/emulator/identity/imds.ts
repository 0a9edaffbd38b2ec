/**
 * The emulated IMDS managed-identity token endpoint, served over plain HTTP the way aad-pod-identity's NMI
 * serves it (NMI `pkg/nmi/server/server.go`), for the identities assigned to "this node":
 *
 * - `/metadata/identity/oauth2/token` with or without trailing slash ("metadata" case-insensitive, as in NMI)
 * - `Metadata: true` required, else 400 `{"error":"invalid_request","error_description":"Required metadata header not specified"}`
 * - `resource` required, else 400 text `parameter resource cannot be empty`
 * - identity selection by `client_id`, `object_id` or `msi_res_id` (at most one); none selects the first
 *   assigned identity (NMI hands out the pod's first assigned identity)
 * - an identity not assigned here: 404 with NMI's text body (NMI's `GetIdentities` failure); the Azure SDK
 *   retries 404 from IMDS (5 times by default) before giving up
 * - success: `access_token`, `refresh_token` "", `expires_in`, `expires_on` (unix seconds, string),
 *   `not_before`, `resource`, `token_type` — all strings, as NMI's msiResponse marshals them
 *
 * `api-version` is accepted in any form and not required (NMI does not check it).
 */
import { applyTokenFault } from '../admin/connection-faults.ts';
import type { TrafficControl } from '../admin/traffic.ts';
import type { RouteHandler, ManagedIdentityConfig, RequestCounter } from './contract.ts';
import type { TokenAuthority } from './authority.ts';
import { sendJson, sendText } from './http.ts';
import { objectIdOf, sameId } from './principals.ts';

const TOKEN_PATH = /^\/metadata\/identity\/oauth2\/token\/?$/i;

export interface ImdsHandlerOptions {
  authority: TokenAuthority;
  identities: ManagedIdentityConfig[];
  counters: RequestCounter;
  /** Lifetime of issued tokens, read per token; default that of the authority (3599 s). */
  tokenLifetimeSeconds?: () => number;
  /** Injected faults for the token endpoint (operation `imdsToken`). */
  traffic?: TrafficControl;
  /** `<namespace>/<pod>` named in NMI's refusal message; default `default/kvsync-emulator-client`. */
  podRef?: string;
}

/** The IMDS response body (NMI's msiResponse). */
export interface ImdsTokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in: string;
  expires_on: string;
  not_before: string;
  resource: string;
  token_type: string;
}

/** Builds the IMDS route handler; returns false for any other path. */
export function createImdsHandler(opts: ImdsHandlerOptions): RouteHandler {
  const podRef = opts.podRef ?? 'default/kvsync-emulator-client';
  return async (req, res, url) => {
    if (!TOKEN_PATH.test(url.pathname)) {
      return false;
    }
    const count = (status: number): true => {
      opts.counters.count('', 'imdsToken', status);
      return true;
    };
    const injected = await applyTokenFault(opts.traffic, 'imdsToken', req, res, (status, retryAfterSeconds) =>
      sendJson(res, status, { error: 'temporarily_unavailable', error_description: 'The identity endpoint is temporarily unavailable. (injected fault)' }, retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) }),
    );
    if (injected !== undefined) return count(injected);
    if (headerValue(req.headers.metadata) !== 'true') {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
      return count(400);
    }
    const q = url.searchParams;
    const resource = q.get('resource') ?? '';
    if (resource === '') {
      sendText(res, 400, 'parameter resource cannot be empty');
      return count(400);
    }
    const selectors = (['client_id', 'object_id', 'msi_res_id'] as const).filter((k) => (q.get(k) ?? '') !== '');
    if (selectors.length > 1) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'Only one of client_id, object_id and msi_res_id can be specified.',
      });
      return count(400);
    }
    const identity = selectIdentity(opts.identities, q);
    if (identity === undefined) {
      // NMI's answer when no AzureAssignedIdentity of the pod matches (GetIdentities error → 404).
      sendText(
        res,
        404,
        `getting assigned identities for pod ${podRef} in CREATED state failed after 16 attempts, retry duration [5]s. Error: <nil>`,
      );
      return count(404);
    }
    const issued = await opts.authority.issueAccessToken({
      objectId: objectIdOf(identity),
      clientId: identity.clientId,
      audience: resource,
      authMethod: '2',
      ...(opts.tokenLifetimeSeconds === undefined ? {} : { lifetimeSeconds: opts.tokenLifetimeSeconds() }),
      ...(identity.resourceId === undefined ? {} : { extraClaims: { xms_mirid: identity.resourceId } }),
    });
    const body: ImdsTokenResponse = {
      access_token: issued.accessToken,
      refresh_token: '',
      expires_in: String(issued.expiresOn - issued.notBefore - 300),
      expires_on: String(issued.expiresOn),
      not_before: String(issued.notBefore),
      resource,
      token_type: 'Bearer',
    };
    sendJson(res, 200, body);
    return count(200);
  };
}

function selectIdentity(identities: ManagedIdentityConfig[], q: URLSearchParams): ManagedIdentityConfig | undefined {
  const clientId = q.get('client_id') ?? '';
  const objectId = q.get('object_id') ?? '';
  const resourceId = q.get('msi_res_id') ?? '';
  if (clientId !== '') {
    return identities.find((i) => sameId(i.clientId, clientId));
  }
  if (objectId !== '') {
    return identities.find((i) => sameId(objectIdOf(i), objectId));
  }
  if (resourceId !== '') {
    // ARM resource IDs are case-insensitive.
    return identities.find((i) => i.resourceId !== undefined && i.resourceId.toLowerCase() === resourceId.toLowerCase());
  }
  return identities[0];
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

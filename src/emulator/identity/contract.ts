/**
 * The contract between the emulator's identity side (Entra ID, IMDS, token signing: src/emulator/identity)
 * and its resource side (Key Vault, admin API, state dir: src/emulator/keyvault and friends).
 *
 * The identity side issues access tokens as JWTs signed with its own key; the Key Vault side only ever
 * calls `verifyAccessToken` and reads a `VerifiedToken`. Principals are identified in role assignments
 * by their object ID (`oid` claim), as Azure RBAC does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Audience Key Vault accepts (Azure sends tokens for resource https://vault.azure.net). */
export const KEY_VAULT_AUDIENCE = 'https://vault.azure.net';

/** A service principal (app registration) with client secrets and/or federated credentials. */
export interface ServicePrincipalConfig {
  /** Display name, used in 403 messages the way Azure names callers. */
  name: string;
  clientId: string;
  /** Object ID; role assignments refer to this. Default: derived from clientId. */
  objectId?: string;
  /** Accepted client secrets (ClientSecretCredential). */
  secrets?: string[];
  /** Federated identity credentials (workload identity): a client assertion must match one. */
  federatedCredentials?: FederatedCredentialConfig[];
}

export interface FederatedCredentialConfig {
  /** Issuer URL exactly as in the assertion's `iss`, e.g. the kube-apiserver's service-account issuer. */
  issuer: string;
  /** e.g. `system:serviceaccount:<namespace>:<name>` */
  subject: string;
  /** Default `api://AzureADTokenExchange`. */
  audiences?: string[];
}

/** A managed identity (user-assigned or the node's system-assigned one), served by IMDS. */
export interface ManagedIdentityConfig {
  name: string;
  clientId: string;
  objectId?: string;
  /** ARM resource ID, for `msi_res_id` selection. */
  resourceId?: string;
}

/** What the Key Vault side learns from a valid bearer token. */
export interface VerifiedToken {
  /** `oid`: the principal's object ID, the key of role assignments. */
  objectId: string;
  /** `appid`/`azp`: the client ID of the app or managed identity. */
  clientId: string;
  /** `tid` */
  tenantId: string;
  /** `aud` */
  audience: string;
  /** `exp`, seconds since the epoch. */
  expiresOn: number;
}

/** Why a bearer token was refused; the Key Vault side turns this into Azure's 401 body. */
export type TokenRejection =
  | { reason: 'malformed'; message: string }
  | { reason: 'bad-signature'; message: string }
  | { reason: 'expired'; message: string }
  | { reason: 'not-yet-valid'; message: string }
  | { reason: 'wrong-audience'; message: string }
  | { reason: 'wrong-tenant'; message: string }
  | { reason: 'wrong-issuer'; message: string };

export type TokenVerification = { ok: true; token: VerifiedToken } | { ok: false; rejection: TokenRejection };

/** Implemented by the identity side (src/emulator/identity/authority.ts). */
export interface AccessTokenVerifier {
  /** Checks signature, issuer, tenant, audience (KEY_VAULT_AUDIENCE, with or without trailing slash) and time. */
  verifyAccessToken(bearer: string): Promise<TokenVerification>;
}

/**
 * An HTTP route handler mounted by the emulator's server. Returns false when the request is not
 * its route, so the next handler can try; otherwise it has answered the request.
 */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/**
 * Request counters behind `GET <adminUrl>/requests`. Operations are named after the SDK methods
 * (`getSecret`, `listSecrets`, …) plus `token` (Entra ID token endpoint) and `imdsToken` (IMDS);
 * `vault` is the vault name, or "" for the identity endpoints.
 */
export interface RequestCounter {
  count(vault: string, operation: string, status: number): void;
}

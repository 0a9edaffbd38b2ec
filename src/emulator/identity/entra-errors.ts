/**
 * Entra ID token-endpoint errors, with the AADSTS codes, OAuth `error` values and HTTP statuses Entra
 * sends (taken from real responses quoted in Azure SDK / workload-identity issue threads). The body
 * shape is Entra's: `error`, `error_description` ("AADSTSnnn: … Trace ID … Correlation ID … Timestamp …"),
 * `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
 */
import { randomUUID } from 'node:crypto';

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope' | 'temporarily_unavailable';

export interface EntraErrorBody {
  error: OAuthErrorCode;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

/** A refusal by the emulated token endpoint. `reason` is the OAuth error plus AADSTS code. */
export class EntraError extends Error {
  readonly status: number;
  readonly oauthError: OAuthErrorCode;
  readonly aadsts: number;
  readonly reason: string;

  constructor(status: number, oauthError: OAuthErrorCode, aadsts: number, message: string) {
    super(`AADSTS${aadsts}: ${message}`);
    this.name = 'EntraError';
    this.status = status;
    this.oauthError = oauthError;
    this.aadsts = aadsts;
    this.reason = `${oauthError}/AADSTS${aadsts}`;
  }

  /** The body as Entra sends it; `nowMs` from the emulator clock, `origin` the authority host. */
  body(nowMs: number, origin: string, correlationId: string = randomUUID()): EntraErrorBody {
    const timestamp = new Date(nowMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    const traceId = randomUUID();
    return {
      error: this.oauthError,
      error_description: `${this.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [this.aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${origin}/error?code=${this.aadsts}`,
    };
  }
}

/** The AADSTS code Entra answers when no federated identity credential matches the assertion's claim. */
const NO_MATCHING_FEDERATED_RECORD = { issuer: 700211, audience: 700212, subject: 700213 } as const;

function noMatchingFederatedRecord(claim: keyof typeof NO_MATCHING_FEDERATED_RECORD, value: string): EntraError {
  return new EntraError(
    401,
    'invalid_client',
    NO_MATCHING_FEDERATED_RECORD[claim],
    `No matching federated identity record found for presented assertion ${claim} '${value}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  );
}

/** The catalogue of refusals the emulator produces. */
export const entraErrors = {
  /** An injected fault (admin API): Entra's transient-failure answer with the fault's status. */
  injected: (status: number) => new EntraError(status, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again. (injected fault)'),
  missingParameter: (name: string) =>
    new EntraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  unsupportedGrantType: (grant: string) =>
    new EntraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`),
  tenantNotFound: (tenant: string) =>
    new EntraError(
      400,
      'invalid_request',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    ),
  invalidScope: (scope: string) =>
    new EntraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  applicationNotFound: (clientId: string, tenant: string) =>
    new EntraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  missingCredential: () =>
    new EntraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  invalidClientSecret: (clientId: string) =>
    new EntraError(
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  invalidAssertionType: (type: string) =>
    new EntraError(400, 'invalid_request', 700026, `Client assertion type '${type}' is not supported. Use 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.`),
  malformedAssertion: () => new EntraError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.'),
  noMatchingIssuer: (issuer: string) => noMatchingFederatedRecord('issuer', issuer),
  noMatchingAudience: (audience: string) => noMatchingFederatedRecord('audience', audience),
  noMatchingSubject: (subject: string) => noMatchingFederatedRecord('subject', subject),
  assertionOutsideValidity: (nowS: number, nbfS: number | undefined, expS: number | undefined) =>
    new EntraError(
      401,
      'invalid_client',
      700024,
      `Client assertion is not within its valid time range. Current time: ${iso(nowS)}, assertion valid from ${nbfS === undefined ? 'unspecified' : iso(nbfS)}, expiry time of assertion ${expS === undefined ? 'unspecified' : iso(expS)}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .`,
    ),
  issuerMetadataUnavailable: () => new EntraError(400, 'invalid_request', 90061, 'Request to External OIDC endpoint failed.'),
  signingKeyNotFound: (kid: string, issuer: string) =>
    new EntraError(
      401,
      'invalid_client',
      7000272,
      `The certificate with identifier ${kid} used to sign the federated credential could not be found in the metadata of identity provider ${issuer}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.`,
    ),
  assertionSignatureInvalid: () => new EntraError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.'),
} as const;

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

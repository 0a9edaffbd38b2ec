/**
 * Where the Azure endpoints are and how to reach them: the Entra authority host (per cloud, or
 * overridden), the IMDS / aad-pod-identity NMI host, the CA to trust and an https agent that resolves
 * vault host names (for the local emulator). Built once per process and shared by credentials and
 * Key Vault clients.
 *
 * The environment is also the operator's vault host policy (src/api/vault-url.ts): the emulator's
 * vaults and `--allowed-vault-hosts`, so `parseKeyVaultSync(obj, env)` resolves vaults as requests go.
 *
 * Sources, later wins: the public cloud defaults → `--azure-endpoints FILE` (an emulator endpoints.json:
 * its CA, resolve map, authority host, IMDS endpoint, tenant and admin principal) → the standard
 * environment (`AZURE_AUTHORITY_HOST`, `AZURE_POD_IDENTITY_AUTHORITY_HOST`, `AZURE_TENANT_ID`).
 */
import type { Agent } from 'node:https';
import { AUTHORITY_HOSTS, type CloudName } from '../api/cloud.ts';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { loadEmulatorClientOptions } from './endpoints-file.ts';
import { SyncError } from './errors.ts';
import { MAX_AZURE_RESPONSE_BYTES, responseLimitPolicy } from './response-limit.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, tokenRequestDeadlinePolicy } from './request-deadline.ts';

/** The VM IMDS address (what aad-pod-identity's NMI intercepts). */
export const DEFAULT_IMDS_HOST = 'http://169.254.169.254';

export interface AzureEnvironment {
  /** Authority host override (endpoints file or AZURE_AUTHORITY_HOST); undefined = per cloud. */
  authorityHostOverride: string | undefined;
  /** IMDS base URL without trailing slash (AZURE_POD_IDENTITY_AUTHORITY_HOST, endpoints file, else 169.254.169.254). */
  imdsHost: string;
  /** Extra CA (PEM) to trust for Entra and Key Vault, e.g. the emulator's. */
  caPem: string | undefined;
  /** Agent for Key Vault clients and credentials: trusts `caPem`, resolves `resolve`; undefined = Node's default. */
  agent: Agent | undefined;
  /** Host name → IP for vault hosts not in DNS. */
  resolve: Readonly<Record<string, string>>;
  /** Tenant to use when a KeyVaultSync names none (AZURE_TENANT_ID or the emulator's). */
  defaultTenantId: string | undefined;
  /** The emulator's administrator principal, when loaded from an endpoints file (for `kvsync render`). */
  emulatorAdmin: { clientID: string; clientSecret: string } | undefined;
  /** Vault name → URL from an emulator's endpoints file (its vaults listen on a port of their own). */
  vaultUrls: Readonly<Record<string, string>>;
  /** Vault host patterns the operator allows besides Azure's Key Vault hosts (`--allowed-vault-hosts`). */
  allowedVaultHosts: readonly string[];
  /**
   * Deadline of one Azure request (Key Vault, Entra ID, IMDS, TokenRequest) and of one token;
   * default {@link DEFAULT_REQUEST_TIMEOUT_MS}.
   */
  requestTimeoutMs?: number;
}

/** The environment's request deadline. */
export function requestTimeoutMs(env: Pick<AzureEnvironment, 'requestTimeoutMs'>): number {
  return env.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
}

export interface LoadAzureEnvironmentOptions {
  endpointsFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Host patterns checked by parseVaultHostPatterns (`--allowed-vault-hosts`). */
  allowedVaultHosts?: readonly string[];
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * Builds the environment.
 * @throws EndpointsFileError (reason InvalidEndpointsFile) when the endpoints file or its CA cannot be read.
 */
export async function loadAzureEnvironment(opts: LoadAzureEnvironmentOptions = {}): Promise<AzureEnvironment> {
  const env = opts.env ?? process.env;
  let result: AzureEnvironment = {
    authorityHostOverride: undefined,
    imdsHost: DEFAULT_IMDS_HOST,
    caPem: undefined,
    agent: undefined,
    resolve: {},
    defaultTenantId: undefined,
    emulatorAdmin: undefined,
    vaultUrls: {},
    allowedVaultHosts: opts.allowedVaultHosts ?? [],
  };
  if (opts.endpointsFile !== undefined) {
    const emu = await loadEmulatorClientOptions(opts.endpointsFile);
    result = {
      authorityHostOverride: trimSlash(emu.endpoints.authorityHost),
      imdsHost: trimSlash(emu.endpoints.imdsEndpoint),
      caPem: emu.caPem,
      agent: emu.agent,
      resolve: emu.endpoints.resolve,
      defaultTenantId: emu.endpoints.tenantID,
      emulatorAdmin: emu.endpoints.admin,
      vaultUrls: emu.endpoints.vaults,
      allowedVaultHosts: result.allowedVaultHosts,
    };
  }
  const authority = nonEmpty(env.AZURE_AUTHORITY_HOST);
  if (authority !== undefined) result.authorityHostOverride = trimSlash(authority);
  const podIdentity = nonEmpty(env.AZURE_POD_IDENTITY_AUTHORITY_HOST);
  if (podIdentity !== undefined) result.imdsHost = trimSlash(podIdentity);
  const tenant = nonEmpty(env.AZURE_TENANT_ID);
  if (tenant !== undefined) result.defaultTenantId = tenant;
  return result;
}

/** The environment with no overrides: public cloud defaults, Node's trust store. */
export function defaultAzureEnvironment(): AzureEnvironment {
  return { authorityHostOverride: undefined, imdsHost: DEFAULT_IMDS_HOST, caPem: undefined, agent: undefined, resolve: {}, defaultTenantId: undefined, emulatorAdmin: undefined, vaultUrls: {}, allowedVaultHosts: [] };
}

/** The authority host for a vault in `cloud`: the override when set, else the cloud's. */
export function authorityHostFor(env: AzureEnvironment, cloud: CloudName): string {
  return env.authorityHostOverride ?? AUTHORITY_HOSTS[cloud];
}

/** What {@link credentialOptions} returns. */
export interface CredentialOptions {
  authorityHost: string;
  disableInstanceDiscovery: boolean;
  tlsOptions?: { ca: string };
  additionalPolicies: { policy: PipelinePolicy; position: 'perRetry' }[];
}

/**
 * Options every @azure/identity credential gets: the authority host, instance discovery off for any
 * authority that is not one of Azure's own (MSAL would ask login.microsoftonline.com about it and fail
 * offline), the CA to trust, and a deadline on each of its requests.
 */
export function credentialOptions(env: AzureEnvironment, cloud: CloudName): CredentialOptions {
  const authorityHost = authorityHostFor(env, cloud);
  const known = Object.values(AUTHORITY_HOSTS).includes(authorityHost);
  return {
    authorityHost,
    disableInstanceDiscovery: !known,
    ...(env.caPem === undefined ? {} : { tlsOptions: { ca: env.caPem } }),
    additionalPolicies: [
      { policy: tokenRequestDeadlinePolicy(requestTimeoutMs(env)), position: 'perRetry' },
      { policy: entraResponseLimit, position: 'perRetry' },
    ],
  };
}

/** Bounds every Entra ID response body (see response-limit.ts). */
const entraResponseLimit = responseLimitPolicy(MAX_AZURE_RESPONSE_BYTES, (host) => new SyncError('AuthenticationFailed', `${host} answered a token request with more than ${MAX_AZURE_RESPONSE_BYTES} bytes; kvsync stopped reading`));

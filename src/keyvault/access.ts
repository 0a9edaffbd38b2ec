/**
 * What every Key Vault request of one controller, mount sidecar or render run shares: the per-vault
 * guards (request budget, Retry-After pauses, circuit breakers), the SDK clients per credential and
 * vault, and the observers of requests and refresh events (the controller's metrics). The wiring
 * constructs one and passes it down; nothing here is process-wide, so tests that make their own never
 * see another test's limiter state or counters.
 */
import { CertificateClient } from '@azure/keyvault-certificates';
import { KeyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/core-auth';
import { canonicalVaultUrl, vaultHostAllowed } from '../api/vault-url.ts';
import { requestTimeoutMs, type AzureEnvironment } from './azure-environment.ts';
import { SyncError } from './errors.ts';
import { RefreshEvents } from './refresh-metrics.ts';
import { keyVaultDeadlinePolicy } from './request-deadline.ts';
import { KeyVaultRequests } from './request-metrics.ts';
import { MAX_AZURE_RESPONSE_BYTES, responseLimitPolicy } from './response-limit.ts';
import { VaultGuards, vaultContextSignalPolicy, type VaultGuardOptions } from './vault-guard.ts';

export interface VaultClients {
  secrets: SecretClient;
  certificates: CertificateClient;
  keys: KeyClient;
}

/** Bounds every Key Vault response body (see response-limit.ts). */
const vaultResponseLimit = responseLimitPolicy(MAX_AZURE_RESPONSE_BYTES, (host) => new SyncError('InvalidResponse', `vault "${host.split('.')[0] ?? host}" answered with more than ${MAX_AZURE_RESPONSE_BYTES} bytes; kvsync stopped reading`));

export class KeyVaultAccess {
  readonly guards: VaultGuards;
  readonly requests = new KeyVaultRequests();
  readonly refreshEvents = new RefreshEvents();
  readonly #clients = new WeakMap<TokenCredential, Map<string, VaultClients>>();

  constructor(opts: { guards?: Partial<VaultGuardOptions>; now?: () => number } = {}) {
    this.guards = new VaultGuards(opts.now === undefined ? {} : { now: opts.now });
    if (opts.guards !== undefined) this.guards.configure(opts.guards);
  }

  /**
   * The SDK clients of one vault for one credential, built once. The last gate before any request:
   * `vaultUrl` must be a canonical vault URL (src/api/vault-url.ts) of a host the environment allows,
   * as parseKeyVaultSync with the same environment resolves it.
   * @throws SyncError InvalidSpec for any other URL
   */
  clientsFor(vaultUrl: string, credential: TokenCredential, env: AzureEnvironment, maxRetries: number): VaultClients {
    const canonical = canonicalVaultUrl(vaultUrl, env);
    if (!canonical.ok || canonical.url !== vaultUrl || !vaultHostAllowed(vaultUrl, env)) {
      throw new SyncError('InvalidSpec', `${vaultUrl} is not a vault this operator may contact (a canonical Key Vault URL of an allowed host)`);
    }
    let byVault = this.#clients.get(credential);
    if (byVault === undefined) {
      byVault = new Map();
      this.#clients.set(credential, byVault);
    }
    const timeoutMs = requestTimeoutMs(env);
    const key = `${vaultUrl}|${maxRetries}|${timeoutMs}`;
    let clients = byVault.get(key);
    if (clients === undefined) {
      // No disableChallengeResourceVerification: the SDK checks the challenge's resource against the vault host.
      // Per call: the sync's deadline reaches the token request too; per retry: limiter and breaker, then
      // each attempt's deadline (which the guard counts as an outage), the request metrics, the size bound.
      const additionalPolicies = [
        { policy: vaultContextSignalPolicy, position: 'perCall' as const },
        { policy: this.guards.policy, position: 'perRetry' as const },
        { policy: keyVaultDeadlinePolicy(timeoutMs), position: 'perRetry' as const },
        { policy: this.requests.policy, position: 'perRetry' as const },
        { policy: vaultResponseLimit, position: 'perRetry' as const },
      ];
      const options = { ...(env.agent === undefined ? {} : { agent: env.agent }), retryOptions: { maxRetries, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 }, additionalPolicies };
      clients = { secrets: new SecretClient(vaultUrl, credential, options), certificates: new CertificateClient(vaultUrl, credential, options), keys: new KeyClient(vaultUrl, credential, options) };
      byVault.set(key, clients);
    }
    return clients;
  }
}

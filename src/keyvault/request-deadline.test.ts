/**
 * Request deadlines against real sockets: Key Vault clients, Entra ID credentials, IMDS and the
 * TokenRequest each end on their own when the peer accepts and never answers, never finishes the TLS
 * handshake, or answers a byte at a time; the vault's breaker counts the timeouts.
 */
import { Agent } from 'node:https';
import { ClientSecretCredential, type AccessToken, type TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigurationOptions } from '@kubernetes/client-node';
import { startStallingServer, type StallMode, type StallingServer } from '../../test/support/stalling-servers.ts';
import { resolvingLookup } from './endpoints-file.ts';
import { createEmulatorTls, type EmulatorTls } from '../emulator/tls.ts';
import { pollUntil } from '../util/poll.ts';
import { credentialOptions, defaultAzureEnvironment, type AzureEnvironment } from './azure-environment.ts';
import { ServiceAccountTokenSource, type CoreApi } from './credentials.ts';
import { KeyVaultAccess } from './access.ts';
import { ImdsCredential } from './imds-credential.ts';
import { BoundedCredential } from './request-deadline.ts';

const TIMEOUT_MS = 300;
const WAIT = { timeoutMs: 10_000, intervalMs: 20 };

const staticToken: TokenCredential = { getToken: (): Promise<AccessToken> => Promise.resolve({ token: 'not-a-real-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

describe('request deadlines', () => {
  let tls: EmulatorTls;
  const servers: StallingServer[] = [];
  let env: AzureEnvironment;
  /** The stalling vaults' `host:port`s (the operator's --allowed-vault-hosts). */
  const allowed: string[] = [];
  const access = new KeyVaultAccess();

  beforeAll(async () => {
    tls = await createEmulatorTls(new Date());
    const names = ['silent', 'handshake', 'trickle-body', 'trickle-headers', 'breaker'].map((n) => `stall-${n}.vault.azure.net`);
    env = {
      ...defaultAzureEnvironment(),
      caPem: tls.caPem,
      agent: new Agent({ ca: tls.caPem, keepAlive: true, lookup: resolvingLookup(Object.fromEntries(names.map((n) => [n, '127.0.0.1']))) }),
      allowedVaultHosts: allowed,
      requestTimeoutMs: TIMEOUT_MS,
    };
  });

  afterAll(async () => {
    env.agent?.destroy();
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** A stalling server; `vault` (a host name) is allowed at its port. */
  const start = async (mode: StallMode, withTls = true, vault?: string): Promise<StallingServer> => {
    const s = await startStallingServer({ mode, intervalMs: 20, ...(withTls ? { tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem } } : {}) });
    servers.push(s);
    if (vault !== undefined) allowed.push(`${vault}:${s.port}`);
    return s;
  };

  const cases: { name: string; host: string; mode: StallMode; tls: boolean }[] = [
    { name: 'accepts and never answers', host: 'stall-silent', mode: 'silent', tls: true },
    { name: 'never finishes the TLS handshake', host: 'stall-handshake', mode: 'silent', tls: false },
    { name: 'sends the headers, then the body a byte at a time', host: 'stall-trickle-body', mode: 'trickle-body', tls: true },
    { name: 'sends the headers a byte at a time', host: 'stall-trickle-headers', mode: 'trickle-headers', tls: true },
  ];
  for (const c of cases) {
    it(`ends a Key Vault request to a vault that ${c.name} with VaultTimeout and closes the connection`, async () => {
      const server = await start(c.mode, c.tls, `${c.host}.vault.azure.net`);
      const { secrets } = access.clientsFor(`https://${c.host}.vault.azure.net:${server.port}`, staticToken, env, 2);
      await expect(secrets.getSecret('db-password')).rejects.toMatchObject({ name: 'SyncError', reason: 'VaultTimeout', message: expect.stringContaining(`vault "${c.host}"`) as string });
      await pollUntil(() => (server.closedByClient >= 1 ? true : undefined), { ...WAIT, description: 'the client to close the stalled connection' });
      // A timed-out attempt is not retried by the SDK: the next sync retries, with backoff.
      expect(server.accepted).toBe(1);
      if (c.mode !== 'silent') expect(server.trickled).toBeGreaterThan(0);
    });
  }

  it('opens the vault breaker after repeated timeouts: the next request fails fast naming the timeouts', async () => {
    const server = await start('silent', true, 'stall-breaker.vault.azure.net');
    const { secrets } = access.clientsFor(`https://stall-breaker.vault.azure.net:${server.port}`, staticToken, env, 0);
    const threshold = 5;
    for (let i = 0; i < threshold; i++) await expect(secrets.getSecret('a')).rejects.toMatchObject({ reason: 'VaultTimeout' });
    expect(access.guards.circuitStates().find((s) => s.vault === 'stall-breaker')?.state).toBe('open');
    await expect(secrets.getSecret('a')).rejects.toMatchObject({ reason: 'VaultUnavailable', message: expect.stringContaining('last: VaultTimeout') as string });
    expect(server.accepted).toBe(threshold);
  });

  it('ends a token request to an Entra ID that accepts and never answers with AuthenticationTimeout and closes its socket', async () => {
    const server = await start('silent');
    const authority = { ...env, authorityHostOverride: `https://127.0.0.1:${server.port}` };
    const credential = new BoundedCredential(new ClientSecretCredential('tenant-a', '11111111-2222-3333-4444-555555555555', 'secret', credentialOptions(authority, 'AzurePublicCloud')), TIMEOUT_MS, 'Microsoft Entra ID (test)');
    await expect(credential.getToken('https://vault.azure.net/.default')).rejects.toMatchObject({ name: 'SyncError', reason: 'AuthenticationTimeout', message: 'Microsoft Entra ID (test) gave no token within 300 ms' });
    await pollUntil(() => (server.closedByClient >= 1 ? true : undefined), { ...WAIT, description: 'the Entra request to be abandoned' });
  });

  it('ends a token wait at once when the caller\'s signal (the sync deadline) fires', async () => {
    const never: TokenCredential = { getToken: () => new Promise<never>(() => undefined) };
    const abort = new AbortController();
    const pending = new BoundedCredential(never, 60_000, 'test').getToken('scope', { abortSignal: abort.signal });
    abort.abort(new RangeError('sync deadline'));
    await expect(pending).rejects.toBeInstanceOf(RangeError);
  });

  it('ends an IMDS request whose answer trickles in (total deadline, not an idle timeout)', async () => {
    const server = await start('trickle-body', false);
    const imds = new ImdsCredential({ host: `http://127.0.0.1:${server.port}`, clientId: undefined, timeoutMs: TIMEOUT_MS, attempts: 1 });
    await expect(imds.getToken('https://vault.azure.net/.default')).rejects.toMatchObject({ name: 'SyncError', reason: 'AuthenticationFailed', message: expect.stringContaining('ETIMEDOUT') as string });
    expect(server.trickled).toBeGreaterThan(0);
    await pollUntil(() => (server.closedByClient >= 1 ? true : undefined), { ...WAIT, description: 'the IMDS request to be abandoned' });
  });

  it('ends a TokenRequest the apiserver does not answer with AuthenticationTimeout and aborts the call', async () => {
    let signal: AbortSignal | undefined;
    const core = {
      createNamespacedServiceAccountToken: (_param: unknown, options?: ConfigurationOptions) => {
        for (const m of options?.middleware ?? []) m.pre({ setSignal: (s: AbortSignal) => (signal = s) } as never);
        return new Promise<never>(() => undefined);
      },
    } as unknown as CoreApi;
    const source = new ServiceAccountTokenSource(core, 'shop', 'web', TIMEOUT_MS);
    await expect(source.get()).rejects.toMatchObject({ name: 'SyncError', reason: 'AuthenticationTimeout', message: 'TokenRequest for ServiceAccount shop/web got no answer within 300 ms' });
    expect(signal?.aborted).toBe(true);
  });
});

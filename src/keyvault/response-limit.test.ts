/**
 * Response bodies against a real local HTTPS server through the clients KeyVaultAccess builds: an
 * answer cut off mid-body (full Content-Length, half the body, then the connection closed) fails at
 * once as a reset, long before the request deadline; the SDK retries it and the vault's breaker
 * counts it; bodies are asked for without content coding and stay bounded in size.
 */
import { once } from 'node:events';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulatorTls, type EmulatorTls } from '../emulator/tls.ts';
import { KeyVaultAccess } from './access.ts';
import { defaultAzureEnvironment, type AzureEnvironment } from './azure-environment.ts';
import { resolvingLookup } from './endpoints-file.ts';
import { toSyncError } from './errors.ts';
import { MAX_AZURE_RESPONSE_BYTES } from './response-limit.ts';

/**
 * Far above any whole answer here, under the test's own timeout: a cut body noticed only at this
 * deadline fails as VaultTimeout, which the assertions refuse.
 */
const REQUEST_TIMEOUT_MS = 10_000;

const staticToken: TokenCredential = { getToken: (): Promise<AccessToken> => Promise.resolve({ token: 'not-a-real-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };

type Answer = 'cut' | 'whole' | 'huge';

/** A vault host that answers each GET of a secret as the next entry of `plan` says (then `whole`). */
interface PlannedVault {
  host: string;
  url: string;
  plan: Answer[];
  /** The Accept-Encoding of each request received. */
  encodings: (string | undefined)[];
  stop(): Promise<void>;
}

const secretBody = (vault: string): string => JSON.stringify({ value: 'the-value', id: `https://${vault}.vault.azure.net/secrets/db-password/0123456789abcdef0123456789abcdef`, attributes: { enabled: true, created: 1_700_000_000, updated: 1_700_000_000 } });

describe('Key Vault response bodies', () => {
  let tls: EmulatorTls;
  let env: AzureEnvironment;
  const allowed: string[] = [];
  const names = ['cut-once', 'cut-always', 'cut-breaker', 'huge'].map((n) => `body-${n}.vault.azure.net`);
  const vaults: PlannedVault[] = [];

  beforeAll(async () => {
    tls = await createEmulatorTls(new Date());
    env = {
      ...defaultAzureEnvironment(),
      caPem: tls.caPem,
      agent: new Agent({ ca: tls.caPem, keepAlive: true, lookup: resolvingLookup(Object.fromEntries(names.map((n) => [n, '127.0.0.1']))) }),
      allowedVaultHosts: allowed,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    };
  });

  afterAll(async () => {
    env.agent?.destroy();
    await Promise.all(vaults.map((v) => v.stop()));
  });

  async function plannedVault(name: string, answers: Answer[]): Promise<PlannedVault> {
    const host = `body-${name}.vault.azure.net`;
    const plan = [...answers];
    const encodings: (string | undefined)[] = [];
    const server: Server = createServer({ cert: tls.serverCertPem, key: tls.serverKeyPem }, (req, res) => {
      encodings.push(req.headers['accept-encoding']);
      const answer = plan.shift() ?? 'whole';
      const body = answer === 'huge' ? `{"value":"${'x'.repeat(MAX_AZURE_RESPONSE_BYTES)}"}` : secretBody(`body-${name}`);
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      if (answer !== 'cut') return void res.end(body);
      // Half the body under the full Content-Length, then the connection closes.
      res.write(body.slice(0, body.length >> 1), () => req.socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    allowed.push(`${host}:${port}`);
    const vault: PlannedVault = {
      host,
      url: `https://${host}:${port}`,
      plan,
      encodings,
      stop: () => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
    vaults.push(vault);
    return vault;
  }

  it('fails a body cut off mid-way at once as VaultUnreachable naming the cut, not at the request deadline', async () => {
    const vault = await plannedVault('cut-always', ['cut']);
    const { secrets } = new KeyVaultAccess().clientsFor(vault.url, staticToken, env, 0);
    const err: unknown = await secrets.getSecret('db-password').then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ name: 'RestError', code: 'ECONNRESET' });
    const shown = toSyncError(err, { vault: 'body-cut-always', object: 'secret "db-password"', objectName: 'db-password' });
    expect(shown).toMatchObject({ reason: 'VaultUnreachable', message: 'secret "db-password" in vault "body-cut-always": the vault\'s answer was cut off before its end (HTTP 200, then the connection closed)' });
  });

  it('lets the SDK retry a cut body like a reset: the next whole answer is read, asked for without content coding', async () => {
    const vault = await plannedVault('cut-once', ['cut', 'whole']);
    const { secrets } = new KeyVaultAccess().clientsFor(vault.url, staticToken, env, 2);
    await expect(secrets.getSecret('db-password')).resolves.toMatchObject({ value: 'the-value' });
    expect(vault.encodings).toEqual(['identity', 'identity']);
  });

  it('counts cut bodies as outage failures: the vault\'s breaker opens and the next request fails fast', async () => {
    const vault = await plannedVault('cut-breaker', Array.from({ length: 5 }, () => 'cut' as const));
    const access = new KeyVaultAccess();
    const { secrets } = access.clientsFor(vault.url, staticToken, env, 0);
    for (let i = 0; i < 5; i++) await expect(secrets.getSecret('db-password')).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(access.guards.circuitStates().find((s) => s.vault === 'body-cut-breaker')?.state).toBe('open');
    await expect(secrets.getSecret('db-password')).rejects.toMatchObject({ name: 'SyncError', reason: 'VaultUnavailable', message: expect.stringContaining('last: ECONNRESET') as string });
    expect(vault.encodings).toHaveLength(5);
  });

  it('still stops reading a body past the size bound (InvalidResponse), and reads one under it whole', async () => {
    const vault = await plannedVault('huge', ['huge', 'whole']);
    const { secrets } = new KeyVaultAccess().clientsFor(vault.url, staticToken, env, 0);
    await expect(secrets.getSecret('db-password')).rejects.toMatchObject({ name: 'SyncError', reason: 'InvalidResponse', message: expect.stringContaining(`more than ${MAX_AZURE_RESPONSE_BYTES} bytes`) as string });
    await expect(secrets.getSecret('db-password')).resolves.toMatchObject({ value: 'the-value' });
  });
});

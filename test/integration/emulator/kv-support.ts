/**
 * Support for the Key Vault conformance tests: start an emulator in-process, build real Azure SDK
 * clients for it (TLS verification and the challenge-resource check ON: vault URLs are
 * `https://<vault>.vault.azure.net:<port>`, resolved to loopback by the agent's lookup), and talk to
 * the admin API and the raw data plane.
 */
import { request } from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import { ClientSecretCredential } from '@azure/identity';
import { CertificateClient } from '@azure/keyvault-certificates';
import { KeyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import { emulatorAgent, resolvingLookup } from '../../../src/keyvault/endpoints-file.ts';
import { startEmulator, type RunningEmulator, type StartEmulatorOptions } from '../../../src/emulator/server.ts';

export const VAULT = 'devkv';

export interface Principal {
  clientId: string;
  secret: string;
}

export async function startTestEmulator(configDocument?: unknown, extra: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator({ ...(configDocument === undefined ? {} : { configDocument }), log: () => undefined, ...extra });
}

export function adminPrincipal(emu: RunningEmulator): Principal {
  return { clientId: emu.endpoints.admin.clientID, secret: emu.endpoints.admin.clientSecret };
}

export function credentialFor(emu: RunningEmulator, p: Principal = adminPrincipal(emu)): ClientSecretCredential {
  return new ClientSecretCredential(emu.endpoints.tenantID, p.clientId, p.secret, {
    authorityHost: emu.endpoints.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.caPem },
  });
}

export interface Clients {
  secrets: SecretClient;
  certificates: CertificateClient;
  keys: KeyClient;
  credential: TokenCredential;
  vaultUrl: string;
}

export function clientsFor(emu: RunningEmulator, p: Principal = adminPrincipal(emu), vault = VAULT, credential: TokenCredential = credentialFor(emu, p)): Clients {
  const vaultUrl = emu.endpoints.vaults[vault];
  if (vaultUrl === undefined) throw new Error(`no vault ${vault}`);
  const agent = emulatorAgent(emu.endpoints, emu.caPem);
  // No disableChallengeResourceVerification: the SDK checks the challenge's resource against the host.
  const options = { agent, retryOptions: { maxRetries: 3, retryDelayInMs: 50, maxRetryDelayInMs: 2000 } };
  return {
    secrets: new SecretClient(vaultUrl, credential, options),
    certificates: new CertificateClient(vaultUrl, credential, options),
    keys: new KeyClient(vaultUrl, credential, options),
    credential,
    vaultUrl,
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** A raw HTTPS request to a URL served by the emulator (vault hosts resolved to loopback). */
export function rawRequest(emu: RunningEmulator, method: string, url: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: opts.headers ?? {}, ca: emu.caPem, lookup: resolvingLookup(emu.endpoints.resolve) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Calls the admin API (`<adminUrl><path>`) with a JSON body. */
export async function admin(emu: RunningEmulator, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return rawRequest(emu, method, `${emu.endpoints.adminUrl}${path}`, {
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export async function bearer(emu: RunningEmulator, p: Principal = adminPrincipal(emu), scope = 'https://vault.azure.net/.default'): Promise<string> {
  const token = await credentialFor(emu, p).getToken(scope);
  return token.token;
}

export interface RequestCount {
  vault: string;
  operation: string;
  status: number;
  count: number;
}

export async function requestCounts(emu: RunningEmulator): Promise<RequestCount[]> {
  return (await admin(emu, 'GET', '/requests')).json as RequestCount[];
}

export function countOf(counts: RequestCount[], operation: string, status: number, vault = VAULT): number {
  return counts.filter((c) => c.vault === vault && c.operation === operation && c.status === status).reduce((n, c) => n + c.count, 0);
}

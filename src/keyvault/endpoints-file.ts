/**
 * The `--azure-endpoints FILE` contract: `endpoints.json` as `kvsync emulator --state-dir DIR` writes it
 * (docs/emulator.md), and the client side of it. An `https.Agent` that trusts the file's CA and resolves the
 * vault host names (`<vault>.vault.azure.net`) through its `resolve` map, with TLS verification and the
 * SDK's challenge-resource check left ON. Product code (the controller, render, mount) reads the file;
 * the emulator, which is not part of the production build, writes it.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { KvsyncError } from '../util/errors.ts';

export interface EmulatorEndpoints {
  tenantID: string;
  /** Path of the per-run CA (PEM) that signed the emulator's server certificate. */
  caFile: string;
  /** `https://127.0.0.1:PORT`: Entra ID (`AZURE_AUTHORITY_HOST`). */
  authorityHost: string;
  /** `http://127.0.0.1:PORT2`: IMDS, suitable for `AZURE_POD_IDENTITY_AUTHORITY_HOST`. */
  imdsEndpoint: string;
  /** `https://127.0.0.1:PORT/admin` */
  adminUrl: string;
  /** Vault name → `https://<name>.vault.azure.net:PORT`. */
  vaults: Record<string, string>;
  /** Host name → IP the client must connect to (the vault host names are not in DNS). */
  resolve: Record<string, string>;
  /** A service principal holding Key Vault Administrator on every vault. */
  admin: { clientID: string; clientSecret: string };
}

export class EndpointsFileError extends KvsyncError<'InvalidEndpointsFile'> {
  override readonly name = 'EndpointsFileError';
  constructor(message: string) {
    super('InvalidEndpointsFile', message);
  }
}

/** Reads and checks an endpoints.json. */
export async function readEndpointsFile(file: string): Promise<EmulatorEndpoints> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new EndpointsFileError(`cannot read endpoints file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const e = doc as Partial<EmulatorEndpoints>;
  for (const key of ['tenantID', 'caFile', 'authorityHost', 'imdsEndpoint', 'adminUrl'] as const) {
    if (typeof e[key] !== 'string') throw new EndpointsFileError(`endpoints file ${file}: "${key}" must be a string`);
  }
  if (typeof e.vaults !== 'object' || e.vaults === null || typeof e.resolve !== 'object' || e.resolve === null) {
    throw new EndpointsFileError(`endpoints file ${file}: "vaults" and "resolve" must be maps`);
  }
  if (typeof e.admin?.clientID !== 'string' || typeof e.admin.clientSecret !== 'string') throw new EndpointsFileError(`endpoints file ${file}: "admin" must have clientID and clientSecret`);
  return e as EmulatorEndpoints;
}

/**
 * A `lookup` that answers from `resolve` (host → IP) and falls back to DNS. Handles `opts.all`, which
 * Node's happy-eyeballs connect uses.
 */
export function resolvingLookup(resolve: Readonly<Record<string, string>>): LookupFunction {
  const table = new Map(Object.entries(resolve).map(([h, ip]) => [h.toLowerCase(), ip]));
  return ((hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    const ip = table.get(hostname.toLowerCase());
    if (ip === undefined) {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err !== null) callback(err, '');
        else if (options.all === true) callback(null, addresses);
        else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
      });
      return;
    }
    const family = isIP(ip) === 6 ? 6 : 4;
    if (options.all === true) callback(null, [{ address: ip, family }]);
    else callback(null, ip, family);
  });
}

/** An agent trusting `caPem` and resolving through `resolve`. */
export function emulatorAgent(endpoints: Pick<EmulatorEndpoints, 'resolve'>, caPem: string): Agent {
  return new Agent({ ca: caPem, lookup: resolvingLookup(endpoints.resolve), keepAlive: true });
}

export interface EmulatorClientOptions {
  endpoints: EmulatorEndpoints;
  caPem: string;
  agent: Agent;
}

/** Reads endpoints.json and its CA file and builds the agent. */
export async function loadEmulatorClientOptions(endpointsFile: string): Promise<EmulatorClientOptions> {
  const endpoints = await readEndpointsFile(endpointsFile);
  const caPem = await readFile(endpoints.caFile, 'utf8');
  return { endpoints, caPem, agent: emulatorAgent(endpoints, caPem) };
}

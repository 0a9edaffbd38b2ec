/**
 * Client-side helper for talking to the emulator with TLS verification and the SDK's challenge-resource
 * check ON: an `https.Agent` that trusts the emulator's CA and resolves the vault host names
 * (`<vault>.vault.azure.net`) through the endpoints' `resolve` map. Pass it as `agent` in the options of
 * SecretClient / CertificateClient / KeyClient and of the credentials.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { readEndpointsFile, type EmulatorEndpoints } from './endpoints.ts';

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

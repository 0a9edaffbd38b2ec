/**
 * The benchmark's Key Vault emulator: a generated config (vaults, seeded secrets, two service
 * principals — one allowed to list, one with object-scoped roles only), the emulator run as its own
 * process (`node src/cli.ts emulator`, so its CPU is not the harness's), and a small admin-API client
 * (request counters, throttling, Event Grid subscriptions).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SupervisedProcess } from '../../src/dev/supervised-process.ts';
import { readEndpointsFile, type EmulatorEndpoints } from '../../src/keyvault/endpoints-file.ts';
import { pollUntil } from '../../src/util/poll.ts';

export const TENANT_ID = '00000000-0000-0000-0000-000000000000';

/** The vaults, one per scenario, so that each scenario's requests are counted apart. */
export const VAULTS = {
  list: 'benchlist',
  scoped: 'benchscoped',
  push: 'benchpush',
  poll: 'benchpoll',
  throttle: 'benchthrottle',
} as const;

export interface BenchPrincipal {
  name: string;
  clientId: string;
  clientSecret: string;
}

export interface EmulatorPlan {
  /** Object names seeded in `benchlist` and `benchscoped` (the M shared objects). */
  sharedObjects: string[];
  /** Object names seeded in `benchpush` and `benchpoll`. */
  rotationObjects: string[];
  /** Object names seeded in `benchthrottle`. */
  throttleObjects: string[];
  /** The seeded value of every object (same for a name in every vault); bench data, not real secrets. */
  values: Map<string, string>;
  /** Key Vault Secrets User on whole vaults: may list. */
  lister: BenchPrincipal;
  /** Key Vault Secrets User on each shared object of `benchscoped` only: may not list. */
  scoped: BenchPrincipal;
}

const pad = (i: number, width: number): string => String(i).padStart(width, '0');

export function planEmulator(opts: { m: number; rotations: number; throttleObjects: number }): EmulatorPlan {
  const sharedObjects = Array.from({ length: opts.m }, (_, i) => `obj-${pad(i, 4)}`);
  const rotationObjects = Array.from({ length: opts.rotations }, (_, i) => `rot-${pad(i, 3)}`);
  const throttleObjects = Array.from({ length: opts.throttleObjects }, (_, i) => `thr-${pad(i, 4)}`);
  const values = new Map<string, string>();
  for (const name of [...sharedObjects, ...rotationObjects, ...throttleObjects]) values.set(name, `bench-${randomBytes(16).toString('hex')}`);
  const principal = (name: string): BenchPrincipal => ({ name, clientId: randomUUID(), clientSecret: randomBytes(18).toString('base64url') });
  return { sharedObjects, rotationObjects, throttleObjects, values, lister: principal('bench-lister'), scoped: principal('bench-scoped') };
}

/** The emulator's YAML config document for a plan. */
export function emulatorConfig(plan: EmulatorPlan): Record<string, unknown> {
  const seed = (names: string[]): { name: string; value: string }[] => names.map((name) => ({ name, value: plan.values.get(name) ?? '' }));
  const usersOf = (vault: string): Record<string, string> => ({ principal: plan.lister.name, role: 'Key Vault Secrets User', vault });
  return {
    tenantId: TENANT_ID,
    vaults: [
      { name: VAULTS.list, secrets: seed(plan.sharedObjects) },
      { name: VAULTS.scoped, secrets: seed(plan.sharedObjects) },
      { name: VAULTS.push, secrets: seed(plan.rotationObjects) },
      { name: VAULTS.poll, secrets: seed(plan.rotationObjects) },
      { name: VAULTS.throttle, secrets: seed(plan.throttleObjects) },
    ],
    servicePrincipals: [plan.lister, plan.scoped].map((p) => ({ name: p.name, clientId: p.clientId, secrets: [p.clientSecret] })),
    managedIdentities: [],
    roleAssignments: [
      usersOf(VAULTS.list),
      usersOf(VAULTS.push),
      usersOf(VAULTS.poll),
      usersOf(VAULTS.throttle),
      ...plan.sharedObjects.map((name) => ({ principal: plan.scoped.name, role: 'Key Vault Secrets User', vault: VAULTS.scoped, scope: `secrets/${name}` })),
    ],
  };
}

export interface BenchEmulator {
  endpoints: EmulatorEndpoints;
  endpointsFile: string;
  caPem: string;
  process: SupervisedProcess;
  admin: EmulatorAdmin;
  stop(): Promise<void>;
}

/** Writes the config and runs `node src/cli.ts emulator` under leash; resolves once endpoints.json exists. */
export async function startBenchEmulator(opts: { plan: EmulatorPlan; dir: string; leash: string; cli: string }): Promise<BenchEmulator> {
  return await startEmulatorProcess({ config: emulatorConfig(opts.plan), dir: opts.dir, leash: opts.leash, cli: opts.cli });
}

/** Runs the emulator with any config document as its own process (`node src/cli.ts emulator` under leash). */
export async function startEmulatorProcess(opts: { config: Record<string, unknown>; dir: string; leash: string; cli: string }): Promise<BenchEmulator> {
  const configFile = join(opts.dir, 'emulator.yaml');
  const stateDir = join(opts.dir, 'emulator');
  const endpointsFile = join(stateDir, 'endpoints.json');
  await writeFile(configFile, stringify(opts.config), { mode: 0o600 });
  const proc = new SupervisedProcess('kvsync-emulator', opts.leash, process.execPath, [opts.cli, 'emulator', '--config', configFile, '--state-dir', stateDir], join(opts.dir, 'emulator.log'));
  await pollUntil(
    () => {
      if (!proc.running) throw new Error(`the emulator exited:\n${proc.logTail(15)}`);
      return existsSync(endpointsFile) ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 200, description: 'the emulator to write endpoints.json', isFatal: () => true },
  );
  // endpoints.json is written in one call; a read racing the write is retried.
  const endpoints = await pollUntil(async () => await readEndpointsFile(endpointsFile), { timeoutMs: 10_000, description: 'a complete endpoints.json' });
  const caPem = await readFile(endpoints.caFile, 'utf8');
  return { endpoints, endpointsFile, caPem, process: proc, admin: new EmulatorAdmin(endpoints.adminUrl, caPem), stop: () => proc.stop() };
}

export interface RequestCount {
  vault: string;
  operation: string;
  status: number;
  count: number;
}

/** The emulator's admin API (loopback HTTPS, no token). */
export class EmulatorAdmin {
  readonly #base: string;
  readonly #ca: string;

  constructor(adminUrl: string, caPem: string) {
    this.#base = adminUrl.replace(/\/$/, '');
    this.#ca = caPem;
  }

  async requests(): Promise<RequestCount[]> {
    return (await this.#call('GET', '/requests')) as RequestCount[];
  }

  async resetRequests(): Promise<void> {
    await this.#call('DELETE', '/requests');
  }

  async setThrottling(vault: string, requestsPer10s: number): Promise<void> {
    await this.#call('PUT', '/throttling', { vault, requestsPer10s });
  }

  /** Injects a fault (`POST /faults`): see docs/emulator.md for the body. */
  async addFault(body: Record<string, unknown>): Promise<void> {
    await this.#call('POST', '/faults', body);
  }

  async clearFaults(): Promise<void> {
    await this.#call('DELETE', '/faults');
  }

  /** Sets the emulator clock's offset from real time. */
  async setClockOffset(offsetSeconds: number): Promise<void> {
    await this.#call('POST', '/time', { offsetSeconds });
  }

  async resetClock(): Promise<void> {
    await this.#call('DELETE', '/time');
  }

  /** The lifetime of the access tokens Entra ID and IMDS issue from now on. */
  async setTokenLifetime(lifetimeSeconds: number): Promise<void> {
    await this.#call('PUT', '/token-lifetime', { lifetimeSeconds });
  }

  /** How long a certificate version created from now on stays pending (seconds of the emulator clock). */
  async setCertificatePending(pendingSeconds: number): Promise<void> {
    await this.#call('PUT', '/certificate-creation', { pendingSeconds });
  }

  async createSubscription(body: Record<string, unknown>): Promise<void> {
    await this.#call('POST', '/eventgrid/subscriptions', body);
  }

  async deliveries(): Promise<{ subscription: string; eventType: string; status: number; outcome: string; at: string }[]> {
    return ((await this.#call('GET', '/eventgrid/deliveries')) as { value: { subscription: string; eventType: string; status: number; outcome: string; at: string }[] }).value;
  }

  #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.#base}${path}`,
        { method, ca: this.#ca, headers: { accept: 'application/json', ...(text === undefined ? {} : { 'content-type': 'application/json' }) }, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const out = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 300) reject(new Error(`emulator admin ${method} ${path}: HTTP ${status} ${out.slice(0, 300)}`));
            else resolve(out === '' ? undefined : JSON.parse(out));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`emulator admin ${method} ${path}: timeout`)));
      req.on('error', reject);
      req.end(text);
    });
  }
}

/** Sums counts of one vault, optionally of matching operations and statuses. */
export function countOf(counts: readonly RequestCount[], vault: string, filter: (c: RequestCount) => boolean = () => true): number {
  return counts.filter((c) => c.vault === vault && filter(c)).reduce((sum, c) => sum + c.count, 0);
}

/** `{operation status: count}` of one vault, for the notes and the JSON. */
export function breakdownOf(counts: readonly RequestCount[], vault: string): Record<string, number> {
  return Object.fromEntries(counts.filter((c) => c.vault === vault).map((c) => [`${c.operation} ${c.status}`, c.count]));
}

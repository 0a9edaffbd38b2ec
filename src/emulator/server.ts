/**
 * Composition of the emulator: per-run TLS, Entra ID + token authority (identity side), IMDS, Event Grid
 * publisher, the vaults, the admin API; ONE HTTPS listener routed by Host header
 * (`<vault>.vault.azure.net[:port]` → that vault's data plane; `127.0.0.1`/`localhost`/`[::1]` → Entra ID
 * and, under `/admin`, the admin API) and one plain-HTTP listener for IMDS. Writes `ca.pem` and
 * `endpoints.json` into the state dir.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RequestCounters } from './admin/counters.ts';
import { createAdminHandler } from './admin/handler.ts';
import { TrafficControl } from './admin/traffic.ts';
import { Clock } from './clock.ts';
import { EmulatorConfigError } from './errors.ts';
import { derivedGuid, loadEmulatorConfig, normalizeConfig, type EmulatorConfig } from './config.ts';
import type { EmulatorEndpoints } from '../keyvault/endpoints-file.ts';
import { createEventGridAdminHandler, EventGridPublisher } from './eventgrid/publisher.ts';
import { DEFAULT_TOKEN_LIFETIME_SECONDS, TokenAuthority } from './identity/authority.ts';
import type { RouteHandler } from './identity/contract.ts';
import { createEntraHandler } from './identity/entra.ts';
import { createImdsHandler } from './identity/imds.ts';
import { loadIssuers } from './issuers.ts';
import { createKeyVaultHandler } from './keyvault/http.ts';
import { emptyVault, nameKey, type VaultState } from './keyvault/model.ts';
import { Vault, type VaultEvent } from './keyvault/vault.ts';
import { DataFileWriter, loadDataFile } from './persistence.ts';
import { createEmulatorTls, VAULT_DOMAIN_SUFFIXES } from './tls.ts';

export const ADMIN_CLIENT_ID = derivedGuid('client', 'kvsync-emulator-admin');

export interface StartEmulatorOptions {
  /** YAML config file; the defaults when absent (and no `config` object is given). */
  configFile?: string;
  /** An already-parsed YAML document (tests); takes precedence over `configFile`. */
  configDocument?: unknown;
  /** Where `ca.pem` and `endpoints.json` go; a temporary directory (removed on stop) when absent. */
  stateDir?: string;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** HTTPS port (0 = any free port). */
  port?: number;
  /** IMDS HTTP port (0 = any free port). */
  imdsPort?: number;
  /**
   * Further host names served as Entra ID and put in the server certificate, e.g.
   * `login.microsoftonline.com` when a cluster's DNS points that name at this emulator, so that pods
   * use the real authority host.
   */
  entraHostNames?: readonly string[];
  /** Persist vault state here and reload it at start. */
  dataFile?: string;
  /** Diagnostic lines (never secret values). */
  log?: (line: string) => void;
}

export interface RunningEmulator {
  endpoints: EmulatorEndpoints;
  config: EmulatorConfig;
  caPem: string;
  clock: Clock;
  counters: RequestCounters;
  traffic: TrafficControl;
  /** The event publisher (subscriptions are managed through the admin API). */
  publisher: EventGridPublisher;
  stop(): Promise<void>;
}

/** Hostname of a Host header value (`name.vault.azure.net:8443` → `name.vault.azure.net`, `[::1]:1` → `::1`). */
export function hostnameOf(host: string | undefined): string {
  if (host === undefined) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  const i = h.lastIndexOf(':');
  return i >= 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1']);

function vaultNameOf(hostname: string): string | undefined {
  for (const suffix of VAULT_DOMAIN_SUFFIXES) {
    if (hostname.endsWith(`.${suffix}`)) {
      const name = hostname.slice(0, -suffix.length - 1);
      if (/^[a-z0-9-]+$/.test(name)) return name;
    }
  }
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function urlHost(host: string): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return h.includes(':') ? `[${h}]` : h;
}

/** Starts the emulator; resolves once both listeners are up and the state dir is written. */
export async function startEmulator(opts: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const log = opts.log ?? ((): void => undefined);
  const host = opts.host ?? '127.0.0.1';
  const adminSecret = randomBytes(24).toString('base64url');
  const adminPrincipal = { clientId: ADMIN_CLIENT_ID, secret: adminSecret };
  const config = opts.configDocument !== undefined ? await normalizeConfig(opts.configDocument, adminPrincipal) : await loadEmulatorConfig(opts.configFile, adminPrincipal);

  const clock = new Clock();
  const counters = new RequestCounters();
  const traffic = new TrafficControl();
  const entraNames = (opts.entraHostNames ?? []).map((n) => n.toLowerCase());
  const entraHosts = new Set([...LOOPBACK_NAMES, ...entraNames]);
  const listenIp = host === '0.0.0.0' || host === '::' || host === 'localhost' ? [] : [host];
  const tls = await createEmulatorTls(new Date(), { dnsNames: entraNames, ips: listenIp });
  const issuers = await loadIssuers(config.issuers, new Date());

  let httpsPort = 0;
  // Port 443 is left out, as clients leave it out of their Host header (issuer URLs must match it).
  const origin = (name: string): string => `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}`;
  const authorityUrl = (): string => origin(urlHost(host));
  const authority = await TokenAuthority.create({ tenantId: config.tenantId, clock, authorityUrl });
  const publisher = new EventGridPublisher({ clock, trustedCaPems: [tls.caPem, ...config.trustedIssuerCaPems] });

  // Vaults: persisted state first, then the config's seeds for objects that do not exist yet.
  const persisted = opts.dataFile === undefined ? {} : await loadDataFile(opts.dataFile);
  const vaults = new Map<string, Vault>();
  const certificateCreation = { pendingSeconds: config.certificatePendingSeconds };
  const tokenIssuance = { lifetimeSeconds: DEFAULT_TOKEN_LIFETIME_SECONDS };
  let writer: DataFileWriter | undefined;
  const publish = (e: VaultEvent): void => publisher.publish(e);
  for (const vc of config.vaults) {
    const state: VaultState = persisted[vc.name] ?? emptyVault(vc.name);
    vaults.set(
      vc.name,
      new Vault(state, {
        clock,
        issuers,
        publish,
        onChange: () => writer?.schedule(),
        vaultUrl: () => `https://${vc.name}.vault.azure.net:${httpsPort}`,
        pendingSeconds: () => certificateCreation.pendingSeconds,
      }),
    );
    traffic.setLimit(vc.name, vc.requestsPer10s);
  }
  await seedVaults(config, vaults);
  if (opts.dataFile !== undefined) {
    writer = new DataFileWriter(opts.dataFile, () => Object.fromEntries([...vaults].map(([n, v]) => [n, v.state])));
    await writer.flush();
  }

  const principalNames = new Map<string, string>([...config.servicePrincipals, ...config.managedIdentities].map((p) => [p.objectId, p.name]));
  const keyVault = createKeyVaultHandler({
    tenantId: config.tenantId,
    authorityUrl,
    verifier: authority,
    assignments: () => config.roleAssignments,
    principalName: (oid) => principalNames.get(oid),
    counters,
    traffic,
    logError: (m) => log(`error: ${m}`),
  });
  const expiryFired = new Set<string>();
  const checkExpiry = (): void => {
    for (const v of vaults.values()) {
      v.settlePending();
      v.checkExpiry(config.nearExpiryDays * 86400, expiryFired);
    }
  };
  const admin = createAdminHandler({
    counters,
    traffic,
    clock,
    vaultNames: () => [...vaults.keys()],
    checkExpiry,
    certificateCreation,
    tokenIssuance,
    eventGrid: createEventGridAdminHandler(publisher),
  });
  const entra = createEntraHandler({
    tenantId: config.tenantId,
    authority,
    servicePrincipals: config.servicePrincipals,
    managedIdentities: config.managedIdentities,
    clock,
    counters,
    trustedIssuerCaPems: config.trustedIssuerCaPems,
    tokenLifetimeSeconds: () => tokenIssuance.lifetimeSeconds,
    traffic,
  });
  const imdsIdentities = config.managedIdentities.filter((m) => config.imdsIdentities.includes(m.name));
  const imds = createImdsHandler({ authority, identities: imdsIdentities, counters, tokenLifetimeSeconds: () => tokenIssuance.lifetimeSeconds, traffic });

  const route = async (handlers: RouteHandler[], req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    for (const h of handlers) if (await h(req, res, url)) return;
    sendJson(res, 404, { error: { code: 'NotFound', message: `No emulator endpoint at ${req.method ?? 'GET'} ${url.pathname}` } });
  };
  const guard = (fn: (req: IncomingMessage, res: ServerResponse) => Promise<void>) => (req: IncomingMessage, res: ServerResponse): void => {
    // Azure dates its answers on its own clock: the shifted one here, not the host's (Node's default).
    res.setHeader('Date', new Date(clock.nowMs()).toUTCString());
    fn(req, res).catch((err: unknown) => {
      log(`error: ${err instanceof Error ? err.message : String(err)}`);
      sendJson(res, 500, { error: { code: 'InternalServerError', message: 'The emulator failed to process the request.' } });
    });
  };

  const sockets = new Set<Socket>();
  const track = (s: Server): void => {
    s.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
  };
  const httpsServer = createHttpsServer(
    { cert: tls.serverCertPem, key: tls.serverKeyPem },
    guard(async (req, res) => {
      const hostname = hostnameOf(req.headers.host);
      const url = new URL(req.url ?? '/', `https://${req.headers.host ?? 'localhost'}`);
      const vaultName = vaultNameOf(hostname);
      if (vaultName !== undefined) {
        const vault = vaults.get(vaultName);
        if (vault === undefined) {
          sendJson(res, 404, { error: { code: 'VaultNotFound', message: `The vault ${vaultName} does not exist in this emulator (known: ${[...vaults.keys()].join(', ')}).` } });
          return;
        }
        await keyVault(req, res, url, vault);
        return;
      }
      if (entraHosts.has(hostname) || listenIp.includes(hostname)) {
        await route([admin, entra], req, res, url);
        return;
      }
      sendJson(res, 404, { error: { code: 'UnknownHost', message: `The emulator does not serve host ${hostname}.` } });
    }),
  );
  const imdsServer = createHttpServer(
    guard(async (req, res) => {
      await route([imds], req, res, new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`));
    }),
  );
  track(httpsServer);
  track(imdsServer);
  httpsPort = await listen(httpsServer, opts.port ?? 0, host);
  const imdsPort = await listen(imdsServer, opts.imdsPort ?? 0, host);

  const ownsStateDir = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? (await mkdtemp(join(tmpdir(), 'kvsync-emulator-')));
  await mkdir(stateDir, { recursive: true });
  const caFile = join(stateDir, 'ca.pem');
  await writeFile(caFile, tls.caPem);
  const ip = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const endpoints: EmulatorEndpoints = {
    tenantID: config.tenantId,
    caFile,
    authorityHost: authorityUrl(),
    imdsEndpoint: `http://${urlHost(host)}:${imdsPort}`,
    adminUrl: `${authorityUrl()}/admin`,
    vaults: Object.fromEntries([...vaults.keys()].map((n) => [n, origin(`${n}.vault.azure.net`)])),
    resolve: Object.fromEntries([...vaults.keys()].map((n) => [`${n}.vault.azure.net`, ip])),
    admin: { clientID: ADMIN_CLIENT_ID, clientSecret: adminSecret },
  };
  await writeFile(join(stateDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });

  const expiryTimer = setInterval(checkExpiry, Math.max(1, config.expiryCheckSeconds) * 1000);
  expiryTimer.unref();
  checkExpiry();

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      clearInterval(expiryTimer);
      const closing = [httpsServer, imdsServer].map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of sockets) s.destroy();
      await Promise.all(closing);
      await publisher.close();
      await writer?.flush();
      if (ownsStateDir) await rm(stateDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  log(`emulator listening on ${authorityUrl()} (IMDS ${endpoints.imdsEndpoint})`);
  return { endpoints, config, caPem: tls.caPem, clock, counters, traffic, publisher, stop };
}

/** Creates the config's seed secrets and certificates that the (possibly persisted) state lacks. */
async function seedVaults(config: EmulatorConfig, vaults: Map<string, Vault>): Promise<void> {
  const base = 'https://seed.vault.azure.net';
  for (const vc of config.vaults) {
    const vault = vaults.get(vc.name);
    if (vault === undefined) continue;
    for (const s of vc.secrets) {
      if (vault.state.secrets[nameKey(s.name)] !== undefined) continue;
      vault.setSecret(base, s.name, {
        value: s.value,
        ...(s.contentType === undefined ? {} : { contentType: s.contentType }),
        attributes: { enabled: s.enabled ?? true, ...(s.notBefore === undefined ? {} : { nbf: s.notBefore }), ...(s.expires === undefined ? {} : { exp: s.expires }) },
        ...(s.tags === undefined ? {} : { tags: s.tags }),
      });
    }
    for (const [j, c] of vc.certificates.entries()) {
      if (vault.state.certificates[nameKey(c.name)] !== undefined) continue;
      try {
        await seedCertificate(vault, base, c);
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        throw new EmulatorConfigError(`config vaults[${vc.name}].certificates[${j}] (${c.name}): ${detail}`);
      }
    }
  }
}

async function seedCertificate(vault: Vault, base: string, c: EmulatorConfig['vaults'][number]['certificates'][number]): Promise<void> {
  if (c.file !== undefined) {
    const bytes = await readFile(c.file);
    const text = bytes.toString('latin1');
    vault.importCertificate(base, c.name, {
      value: text.includes('-----BEGIN') ? text : bytes.toString('base64'),
      ...(c.password === undefined ? {} : { pwd: c.password }),
      policy: { secret_props: { contentType: c.contentType } },
    });
    return;
  }
  await vault.createCertificate(base, c.name, {
    policy: {
      key_props: { kty: c.keyType, ...(c.keySize === undefined ? {} : { key_size: c.keySize }), ...(c.curve === undefined ? {} : { crv: c.curve }), exportable: true },
      secret_props: { contentType: c.contentType },
      x509_props: { subject: c.subject, sans: { dns_names: c.dnsNames }, validity_months: c.validityMonths },
      issuer: { name: c.issuer },
    },
  });
}

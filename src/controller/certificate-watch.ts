/**
 * Certificate warnings after each successful sync:
 * - `Warning CertificateExpiring` when a synced certificate's notAfter is within the warning window
 *   (`--expiry-warning-window`, default 30 days), once per (KeyVaultSync, object, version) for the life
 *   of the process — not once per refresh;
 * - `Warning NewerVersionAvailable` when a KeyVaultSync pins a certificate version and Key Vault holds a
 *   newer enabled one, once per (object, pinned version, newer version). Finding that out costs one
 *   version listing (25 versions a page) per pinned certificate per KeyVaultSync per check interval
 *   (default 1 h), never per refresh; objects that follow the current version need no listing;
 * - gauges `kvsync_certificate_expiring` and `kvsync_certificate_newer_version_available` (1/0).
 * Certificates are the objects whose expiry `certificateExpiries` reports (the parsed leaf's notAfter,
 * else Key Vault's `expires`). Never throws: a failed listing is logged and retried next interval.
 */
import type { Logger } from 'pino';
import type { ResolvedKeyVaultSync, ResolvedObject } from '../api/index.ts';
import type { EventRecorder } from './events.ts';
import { certificateExpiries } from './certificate-expiries.ts';
import { newerThanPinned, type VersionStamp } from '../keyvault/versions.ts';
import type { SyncObserver, SyncedContext } from './sync-observer.ts';

export const DEFAULT_EXPIRY_WARNING_WINDOW_MS = 30 * 24 * 3600_000;
export const DEFAULT_NEWER_VERSION_CHECK_INTERVAL_MS = 3600_000;
/** Bound on the remembered (object, version) warnings and version checks. */
const MAX_REMEMBERED = 50_000;

export interface CertificateState {
  /** Within the warning window (or expired). */
  expiring: boolean;
  /** Pinned and Key Vault holds a newer enabled version; undefined when not pinned or not known yet. */
  newerVersion: boolean | undefined;
}

export interface CertificateWatchMetrics {
  /** Replaces the certificate state series of one KeyVaultSync (objects absent are removed). */
  setCertificateStates(namespace: string, keyVaultSync: string, states: ReadonlyMap<string, CertificateState>): void;
}

/** The pipeline's optional version listing; a pipeline without it means no newer-version check. */
export interface VersionLister {
  listVersions?(sync: ResolvedKeyVaultSync, credential: unknown, object: ResolvedObject): Promise<VersionStamp[]>;
  /** The version Key Vault says is current; asked only when the listing cannot tell (same-second versions). */
  currentVersion?(sync: ResolvedKeyVaultSync, credential: unknown, object: ResolvedObject): Promise<string>;
}

export interface CertificateWatchOptions {
  events: EventRecorder;
  log: Logger;
  /** Default {@link DEFAULT_EXPIRY_WARNING_WINDOW_MS}. */
  windowMs?: number | undefined;
  /** Lists versions for the newer-version check; none when undefined. */
  versions?: VersionLister | undefined;
  /** Default {@link DEFAULT_NEWER_VERSION_CHECK_INTERVAL_MS}. */
  checkIntervalMs?: number | undefined;
  metrics?: CertificateWatchMetrics | undefined;
  now?: () => Date;
}

/** "in 12 days" / "3 hours ago", for messages. */
export function relativeTime(ms: number): string {
  const abs = Math.abs(ms);
  const [n, unit] = abs >= 2 * 86_400_000 ? [Math.floor(abs / 86_400_000), 'days'] : abs >= 2 * 3_600_000 ? [Math.floor(abs / 3_600_000), 'hours'] : [Math.max(0, Math.floor(abs / 60_000)), 'minutes'];
  return ms >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

function days(ms: number): string {
  const d = ms / 86_400_000;
  return Number.isInteger(d) ? `${d} days` : `${Math.round(ms / 3_600_000)} hours`;
}

/** Adds to an insertion-ordered map, forgetting the oldest entries beyond the bound. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= MAX_REMEMBERED) break;
    map.delete(oldest);
  }
}

export class CertificateWatch implements SyncObserver {
  readonly #o: CertificateWatchOptions;
  readonly #now: () => Date;
  readonly #windowMs: number;
  readonly #checkIntervalMs: number;
  /** Warnings already recorded, by `<ns>/<kvs>/<object>/<version>[/<newer>]`. */
  readonly #warned = new Map<string, true>();
  /** Last newer-version check per `<ns>/<kvs>/<object>/<pinned version>`: when, and what is known (undefined: never listed). */
  readonly #checked = new Map<string, { at: number; newer: { version: string | undefined } | undefined }>();

  constructor(opts: CertificateWatchOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
    this.#windowMs = opts.windowMs ?? DEFAULT_EXPIRY_WARNING_WINDOW_MS;
    this.#checkIntervalMs = opts.checkIntervalMs ?? DEFAULT_NEWER_VERSION_CHECK_INTERVAL_MS;
  }

  async synced(ctx: SyncedContext): Promise<void> {
    try {
      await this.#check(ctx);
    } catch (err) {
      // Warnings never fail a sync.
      this.#o.log.error({ keyVaultSync: `${ctx.target.namespace}/${ctx.target.name}`, errName: err instanceof Error ? err.name : typeof err }, 'certificate checks failed unexpectedly');
    }
  }

  async #check(ctx: SyncedContext): Promise<void> {
    const { namespace, name } = ctx.target;
    const now = this.#now().getTime();
    const states = new Map<string, CertificateState>();
    for (const [objectName, notAfter] of certificateExpiries(ctx.fetched)) {
      const f = ctx.fetched.find((x) => (x.historyIndex ?? 0) === 0 && x.object.name === objectName);
      if (f === undefined) continue;
      const left = notAfter.getTime() - now;
      const expiring = left <= this.#windowMs;
      const key = `${namespace}/${name}/${objectName}/${f.version}`;
      if (expiring && !this.#warned.has(key)) {
        remember(this.#warned, key, true);
        const when = left >= 0 ? `expires at ${notAfter.toISOString()}, ${relativeTime(left)}` : `expired at ${notAfter.toISOString()}, ${relativeTime(left)}`;
        await this.#o.events.record(ctx.target, 'Warning', 'CertificateExpiring', `certificate "${objectName}" (version ${f.version}) ${when} (warning window ${days(this.#windowMs)}); renew it in Key Vault`);
      }
      const newerVersion = f.object.version === undefined ? undefined : await this.#newerVersion(ctx, f.object, f.version, now);
      states.set(objectName, { expiring, newerVersion });
    }
    this.#o.metrics?.setCertificateStates(namespace, name, states);
  }

  /** Whether Key Vault holds a newer enabled version than the pinned one (listed at most once per interval). */
  async #newerVersion(ctx: SyncedContext, object: ResolvedObject, pinned: string, now: number): Promise<boolean | undefined> {
    const lister = this.#o.versions;
    if (lister?.listVersions === undefined) return undefined;
    const { namespace, name } = ctx.target;
    const key = `${namespace}/${name}/${object.name}/${pinned}`;
    const last = this.#checked.get(key);
    const known = (n: { version: string | undefined } | undefined): boolean | undefined => (n === undefined ? undefined : n.version !== undefined);
    if (last !== undefined && now - last.at < this.#checkIntervalMs) return known(last.newer);
    let newer: VersionStamp | undefined;
    try {
      const versions = await lister.listVersions(ctx.sync, ctx.credential, object);
      // Key Vault lists versions by id, and `created` has one-second resolution: when another version
      // shares the pinned one's second, only the current version (the unversioned read) can tell.
      const listed = newerThanPinned(versions, pinned);
      if (listed !== undefined) newer = listed.newer;
      else if (lister.currentVersion !== undefined) {
        const current = await lister.currentVersion(ctx.sync, ctx.credential, object);
        newer = current.toLowerCase() === pinned.toLowerCase() ? undefined : (versions.find((v) => v.version.toLowerCase() === current.toLowerCase()) ?? { version: current, createdOn: undefined });
      }
    } catch (err) {
      // Listing may be forbidden (object-scoped role) or fail transiently: no warning, ask again next interval.
      this.#o.log.debug({ keyVaultSync: `${namespace}/${name}`, object: object.name, errName: err instanceof Error ? err.name : typeof err }, 'listing versions for the newer-version check failed');
      remember(this.#checked, key, { at: now, newer: last?.newer });
      return known(last?.newer);
    }
    remember(this.#checked, key, { at: now, newer: { version: newer?.version } });
    if (newer !== undefined && !this.#warned.has(`${key}/${newer.version}`)) {
      remember(this.#warned, `${key}/${newer.version}`, true);
      const created = newer.createdOn === undefined ? '' : `, created ${newer.createdOn.toISOString()}`;
      await this.#o.events.record(
        ctx.target,
        'Warning',
        'NewerVersionAvailable',
        `certificate "${object.name}" is pinned to version ${pinned}; Key Vault holds a newer enabled version ${newer.version}${created}. Update spec.objects[].version (or objectVersion in parameters) to use it`,
      );
    }
    return newer !== undefined;
  }
}

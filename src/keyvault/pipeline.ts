/**
 * What the controller syncs with: CredentialProvider, fetchObjects and renderOutputs, with one object
 * cache shared by every KeyVaultSync and one change detector per (vault, identity). `fetchShared` is
 * fetchObjects with that sharing; the identity key that `credentialFor` returns is passed back in with
 * the credential, so reads are shared only between KeyVaultSyncs of the same identity.
 *
 * How a fetch decides between a kept read and Key Vault, per object (current version):
 * - fresh (`{ fresh: true }`, the default: first sync, new generation, force-sync): only reads started
 *   after this KeyVaultSync's previous fetch ended and within `freshWindowMs` (2 s) are shared;
 * - not fresh (a refresh, drift repair, a reported change): the kept read is used while the
 *   vault's change detector confirms the object unchanged; otherwise as fresh.
 * Pinned versions are immutable: any kept read of them is used.
 * While Key Vault throttles the change detector (429), a refresh of current versions fails at once with
 * `Throttled` and asks the vault nothing: its kept reads cannot be confirmed, its reads would only add to
 * the storm, and its user is told within one detector cycle (the Secrets stay as they are).
 */
import type { TokenCredential } from '@azure/core-auth';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, ResolvedObject } from '../api/index.ts';
import type { AzureEnvironment } from './azure-environment.ts';
import { ChangeDetector, type ListingKind } from './change-detector.ts';
import { CredentialProvider, identityLogId, type CredentialFor } from './credentials.ts';
import { BundleCache, type BundleCacheOptions } from './bundle-cache.ts';
import { SyncError } from './errors.ts';
import { hasSelectors, selectFromListing, selectObjects } from './selection.ts';
import { cachedReadBytes, fetchObjects, listCurrentVersions, listVersionsOf, readObjectVersion, type BundleDecoder, type CachedRead, type FetchedObject, type FetchResult, type ListedVersion, type ObjectRef } from './fetch.ts';
import { ObjectCache, type ObjectCacheOptions } from './object-cache.ts';
import { renderOutputs, type RenderedOutputs } from './outputs.ts';
import { KeyVaultAccess } from './access.ts';
import { vaultLabel } from './refresh-metrics.ts';
import { withVaultRequestContext, type VaultRequestContext, type VaultWait } from './vault-guard.ts';
import type { RequestPriority } from './vault-limiter.ts';
import type { ObjectVersion } from './versions.ts';
import { DecodePool, type DecodePoolOptions } from '../pki/decode-pool.ts';

/** How fresh a fetch must be. */
export interface FetchMode {
  /**
   * true (default): the KeyVaultSync's first sync, a new generation or a force-sync — read from Key
   * Vault (sharing only reads started moments ago). false: a refresh, a drift repair or a reported
   * change — kept reads the change detector confirms unchanged are used, at no Key Vault request.
   */
  fresh?: boolean;
  /** `high` for a KeyVaultSync never synced: its requests go before refreshes' in the vault limiter. */
  priority?: RequestPriority;
  /** The sync's deadline: every Key Vault request of the fetch, and the token request behind it, ends when it fires. */
  signal?: AbortSignal;
  /**
   * Told the fetch's first long wait (`throttled` of the result) as soon as the vault guard notes it,
   * while the fetch may still wait on: a storm is told while it lasts. Returns at once; never throws.
   */
  onThrottled?: ((wait: VaultWait) => void) | undefined;
}

/** What a shared fetch got, and whether the vault made it wait. */
export interface SharedFetchResult extends FetchResult {
  /** Set when a request waited long for the vault's request budget or a Retry-After pause. */
  throttled?: VaultWait;
  /** The KeyVaultSync with its selectors expanded (selection.ts): what to render. Unset without selectors. */
  sync?: ResolvedKeyVaultSync;
}

const MAX_TRACKED_SYNCS = 100_000;
/** Kept current-version reads live until change detection drops them, and this long at most. */
const UNTIL_CHANGED_LATEST_TTL_MS = 3_600_000;
/** Reads kept: every object a controller syncs, so that refreshes of unchanged objects stay free. */
const DEFAULT_MAX_KEPT_READS = 10_000;
export const DEFAULT_FRESH_WINDOW_MS = 2_000;
const DETECTOR_CONTEXT = { priority: 'normal' } as const;

export interface KeyVaultPipelineOptions {
  /** Guards, clients and metric observers of the requests (the controller's); default: the pipeline's own. */
  access?: KeyVaultAccess;
  /**
   * The shared object cache (one read per vault, object, version and identity); see docs/operator.md.
   * `latestTtlMs` defaults to 1 h and `maxEntries` to 10,000 here: a kept read is used only while
   * confirmed or fresh (above). `pinnedTtlMs` defaults to forever: a pinned version is immutable and
   * never read again while kept (least recently used evicted first). `maxBytes` (default 64 MiB)
   * bounds the values and bundles kept.
   */
  objectCache?: Omit<ObjectCacheOptions<CachedRead>, 'sizeOf' | 'onResult'>;
  /** Certificate decoding: worker threads (decode-pool.ts) and the decoded bundles kept per version. */
  decoding?: { pool?: DecodePoolOptions; cache?: Omit<BundleCacheOptions, 'onResult'> };
  /** Fresh fetches share reads started at most this long ago; default 2,000 ms. */
  freshWindowMs?: number;
  /** Change detection per (vault, identity); on by default. */
  changeDetection?: { enabled?: boolean; listRecheckMs?: number; graceMs?: number };
  /** Told when a vault's listing becomes forbidden or allowed for an identity (never values). */
  log?: Logger;
  /** False while change detection must not run (a follower replica); default always true. */
  isActive?: () => boolean;
}

interface DetectorEntry {
  detector: ChangeDetector;
  vaultUrl: string;
  /** The latest secrets listing (by the detector or a fresh fetch): what selectors are expanded against. */
  secretsListing: Map<string, ListedVersion> | undefined;
  /** KeyVaultSyncs with selectors: their spec and the selection their last fetch used. */
  selections: Map<string, { sync: ResolvedKeyVaultSync; signature: string }>;
  /** The latest credential handed out for the identity (CredentialProvider may replace it). */
  auth: { credential: TokenCredential };
}

export class KeyVaultPipeline {
  readonly #credentials: CredentialProvider;
  readonly #env: AzureEnvironment;
  readonly #access: KeyVaultAccess;
  readonly #objects: ObjectCache<CachedRead>;
  readonly #decodePool: DecodePool;
  readonly #bundles: BundleCache;
  readonly #decode: BundleDecoder;
  readonly #freshWindowMs: number;
  readonly #detection: KeyVaultPipelineOptions['changeDetection'];
  readonly #log: Logger | undefined;
  readonly #isActive: () => boolean;
  /**
   * When each KeyVaultSync's last fetch ended (object-cache clock): its next fresh fetch uses only reads
   * started after that, so a force-sync never gets the read its previous fetch got.
   */
  readonly #lastFetchEnd = new Map<string, number>();
  /** Change detectors by `identityKey\0vaultUrl`. */
  readonly #detectors = new Map<string, DetectorEntry>();
  /** The detector each KeyVaultSync is registered with. */
  readonly #syncDetector = new Map<string, string>();
  readonly #listeners = new Set<(syncKeys: string[]) => void>();
  #closed = false;

  constructor(kube: k8s.KubeConfig, env: AzureEnvironment, opts: KeyVaultPipelineOptions = {}) {
    this.#credentials = new CredentialProvider({ kube, env });
    this.#env = env;
    const access = (this.#access = opts.access ?? new KeyVaultAccess());
    this.#objects = new ObjectCache<CachedRead>({ latestTtlMs: UNTIL_CHANGED_LATEST_TTL_MS, maxEntries: DEFAULT_MAX_KEPT_READS, pinnedTtlMs: Infinity, ...opts.objectCache, sizeOf: cachedReadBytes, onResult: (result) => access.refreshEvents.tell({ kind: 'cache', result }) });
    this.#decodePool = new DecodePool(opts.decoding?.pool);
    this.#bundles = new BundleCache((value, contentType, owner) => this.#decodePool.decode(value, contentType, {}, owner), { ...opts.decoding?.cache, onResult: (result) => access.refreshEvents.tell({ kind: 'decode', result }) });
    this.#decode = (req) => this.#bundles.get(req);
    this.#freshWindowMs = Math.max(0, opts.freshWindowMs ?? DEFAULT_FRESH_WINDOW_MS);
    this.#detection = opts.changeDetection;
    this.#log = opts.log;
    this.#isActive = opts.isActive ?? (() => true);
  }

  /** The credential of the KeyVaultSync's identity and that identity's key, to pass to {@link fetchShared}. */
  credentialFor(sync: ResolvedKeyVaultSync, ctx: { namespace: string; identities: ResolvedKeyVaultIdentity[] }): Promise<CredentialFor> {
    return this.#credentials.credentialFor(sync, ctx);
  }

  /**
   * fetchObjects for one KeyVaultSync, sharing reads with every other KeyVaultSync of the same identity
   * (`auth.identityKey`) as `mode` allows (see the top of this file).
   */
  async fetchShared(sync: ResolvedKeyVaultSync, auth: CredentialFor, mode: FetchMode = {}): Promise<SharedFetchResult> {
    const { credential, identityKey } = auth;
    const syncKey = `${sync.namespace ?? ''}/${sync.name ?? ''}`;
    const vaultUrl = sync.vault.url;
    const fresh = mode.fresh !== false;
    const previousEnd = this.#lastFetchEnd.get(syncKey) ?? -Infinity;
    const freshFloor = Math.max(previousEnd, this.#objects.now() - this.#freshWindowMs);
    const context: VaultRequestContext = { priority: mode.priority ?? 'normal', onLongWait: mode.onThrottled, ...(mode.signal === undefined ? {} : { signal: mode.signal }) };
    let selected: ResolvedKeyVaultSync | undefined;
    if (hasSelectors(sync)) {
      const selection = await withVaultRequestContext(context, () => this.#select(syncKey, sync, identityKey, credential, fresh));
      if ('failure' in selection) return { fetched: [], failures: [selection.failure] };
      selected = selection.sync;
    } else this.#detectorOf(identityKey, vaultUrl)?.selections.delete(syncKey);
    const effective = selected ?? sync;
    const detector = this.#register(syncKey, effective, vaultUrl, identityKey, credential);
    if (!fresh && detector?.throttled === true && effective.objects.some((o) => o.version === undefined)) return { fetched: [], failures: [this.#throttledRefresh(vaultUrl)] };
    try {
      const result = await withVaultRequestContext(context, () =>
        fetchObjects(effective, credential, this.#env, {
          access: this.#access,
          decode: this.#decode,
          cache: {
            objects: this.#objects,
            identityKey,
            notReadBefore: (object) => (!fresh && detector?.confirms(object) === true ? undefined : freshFloor),
            onRead: (object, read, startedAt) => detector?.recordRead(object, read, startedAt, syncKey),
          },
        }),
      );
      const withSync = selected === undefined ? result : { ...result, sync: selected };
      return context.longWait === undefined ? withSync : { ...withSync, throttled: context.longWait };
    } finally {
      this.#lastFetchEnd.delete(syncKey);
      this.#lastFetchEnd.set(syncKey, this.#objects.now());
      // Bounded: the oldest KeyVaultSyncs (most likely deleted) are forgotten first.
      for (const oldest of this.#lastFetchEnd.keys()) {
        if (this.#lastFetchEnd.size <= MAX_TRACKED_SYNCS) break;
        this.#lastFetchEnd.delete(oldest);
      }
    }
  }

  /** The failure of a refresh while the vault throttles its change detector; retried after the vault's pause. */
  #throttledRefresh(vaultUrl: string): SyncError {
    const pausedForMs = this.#access.guards.guard(new URL(vaultUrl).host).limiter.pausedForMs();
    return new SyncError('Throttled', `vault "${vaultLabel(vaultUrl)}" is throttling kvsync (429): new versions cannot be checked for now; the Secrets stay as last synced`, pausedForMs > 0 ? { retryAfterMs: pausedForMs } : {});
  }

  renderOutputs(sync: ResolvedKeyVaultSync, fetched: FetchedObject[]): RenderedOutputs {
    return renderOutputs(sync, fetched);
  }

  /** One paged listing of the object's versions (never cached: it runs rarely, see CertificateWatch). */
  listVersions(sync: ResolvedKeyVaultSync, credential: TokenCredential, object: ResolvedObject): Promise<ObjectVersion[]> {
    return listVersionsOf(sync.vault.url, credential, this.#env, object, { access: this.#access });
  }

  /** The version Key Vault says is current (the unversioned read, uncached), for the newer-version check. */
  async currentVersion(sync: ResolvedKeyVaultSync, credential: TokenCredential, object: ResolvedObject): Promise<string> {
    return (await readObjectVersion(sync.vault.url, credential, this.#env, object, undefined, { access: this.#access, decode: this.#decode })).version;
  }

  /** The KeyVaultSync is gone: it stops being watched. */
  forgetSync(namespace: string, name: string): void {
    const syncKey = `${namespace}/${name}`;
    this.#lastFetchEnd.delete(syncKey);
    const d = this.#syncDetector.get(syncKey);
    this.#syncDetector.delete(syncKey);
    if (d !== undefined) {
      this.#detectors.get(d)?.selections.delete(syncKey);
      this.#unregister(d, syncKey);
    }
  }

  /**
   * The KeyVaultSync's selection: against the detector's latest secrets listing when the fetch need not
   * be fresh (no request: the listing change detection made anyway), else against a listing made now.
   */
  async #select(syncKey: string, sync: ResolvedKeyVaultSync, identityKey: string, credential: TokenCredential, fresh: boolean): Promise<{ sync: ResolvedKeyVaultSync } | { failure: SyncError }> {
    const entry = this.#detectorOf(identityKey, sync.vault.url);
    const known = fresh ? undefined : entry?.secretsListing;
    const selection = await selectFromListing(sync, known, () => listCurrentVersions(sync.vault.url, credential, this.#env, 'secrets', { access: this.#access }));
    if ('failure' in selection) return selection;
    if (entry !== undefined) {
      if (known === undefined) entry.secretsListing = new Map(selection.listing);
      entry.selections.set(syncKey, { sync, signature: selection.signature });
    }
    return { sync: selection.sync };
  }

  #detectorOf(identityKey: string, vaultUrl: string): DetectorEntry | undefined {
    return this.#detectors.get(`${identityKey}\0${vaultUrl.toLowerCase()}`);
  }

  /** A new secrets listing: KeyVaultSyncs whose selection it changes are reported, to sync again. */
  #listed(entry: DetectorEntry, listing: Map<string, ListedVersion>): void {
    entry.secretsListing = listing;
    const changed: string[] = [];
    for (const [syncKey, { sync, signature }] of entry.selections) {
      let now: string;
      try {
        now = selectObjects(sync, listing).signature;
      } catch {
        now = '\0refused'; // the sync reports why when it runs
      }
      if (now !== signature) changed.push(syncKey);
    }
    if (changed.length > 0) for (const l of this.#listeners) l(changed);
  }

  /**
   * A pushed change (Event Grid) of `objectName` in the vault at `vaultUrl` (matched by host name, so
   * the public and the emulator's URL both match; a bare vault name matches the host's first label),
   * for every identity: kept reads of the object are dropped (unless `version` is the one already
   * read) and the keys (`namespace/name`) of the KeyVaultSyncs using it are returned, to be enqueued;
   * their next fetch reads it once, shared.
   */
  markChanged(vaultUrl: string, objectName: string, version?: string): string[] {
    const byName = !vaultUrl.includes('://');
    const wanted = byName ? vaultUrl.toLowerCase() : hostOf(vaultUrl);
    const keys = new Set<string>();
    for (const entry of this.#detectors.values()) {
      if ((byName ? vaultLabel(entry.vaultUrl) : hostOf(entry.vaultUrl)) !== wanted) continue;
      for (const k of entry.detector.markChanged(objectName, version)) keys.add(k);
    }
    return [...keys];
  }

  /** `listener` is told the keys of KeyVaultSyncs whose objects changed (found by a detector). */
  onObjectsChanged(listener: (syncKeys: string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Stops every change detector and forgets what they knew (a follower polls nothing); later fetches
   * start them again. Kept reads are then used only as fresh fetches allow, until re-confirmed.
   */
  stopChangeDetection(): void {
    for (const { detector } of this.#detectors.values()) detector.close();
    this.#detectors.clear();
    this.#syncDetector.clear();
  }

  /** Bytes of the reads kept by the object cache (values and decoded bundles). */
  get objectCacheBytes(): number {
    return this.#objects.bytes;
  }

  /** What certificate decoding did: bundle cache and worker pool counters (tests, metrics). */
  get decodeStats(): { cache: BundleCache['stats']; pool: DecodePool['stats'] } {
    return { cache: this.#bundles.stats, pool: this.#decodePool.stats };
  }

  /** Stops every change detector for good (no more Key Vault requests of its own) and the decode workers. Idempotent. */
  close(): void {
    this.#closed = true;
    this.stopChangeDetection();
    void this.#decodePool.close();
  }

  /** Registers the KeyVaultSync's current-version objects with its (vault, identity) detector. */
  #register(syncKey: string, sync: ResolvedKeyVaultSync, vaultUrl: string, identityKey: string, credential: TokenCredential): ChangeDetector | undefined {
    if (this.#closed || this.#detection?.enabled === false || !this.#isActive()) return undefined;
    const key = `${identityKey}\0${vaultUrl.toLowerCase()}`;
    let entry = this.#detectors.get(key);
    if (entry === undefined) {
      entry = this.#newDetector(vaultUrl, identityKey, credential);
      this.#detectors.set(key, entry);
    }
    entry.auth.credential = credential;
    const previous = this.#syncDetector.get(syncKey);
    if (previous !== undefined && previous !== key) this.#unregister(previous, syncKey);
    this.#syncDetector.set(syncKey, key);
    const refs: ObjectRef[] = sync.objects.filter((o) => o.version === undefined).map((o) => ({ type: o.type, name: o.name }));
    entry.detector.register(syncKey, refs, sync.refreshIntervalMs, hasSelectors(sync) ? ['secrets'] : []);
    return entry.detector;
  }

  #unregister(detectorKey: string, syncKey: string): void {
    const entry = this.#detectors.get(detectorKey);
    if (entry === undefined) return;
    entry.detector.unregister(syncKey);
    if (entry.detector.size === 0) {
      entry.detector.close();
      this.#detectors.delete(detectorKey);
    }
  }

  #newDetector(vaultUrl: string, identityKey: string, credential: TokenCredential): DetectorEntry {
    const vault = vaultLabel(vaultUrl);
    const auth = { credential };
    const listForbidden = new Set<ListingKind>();
    const detector: ChangeDetector = new ChangeDetector({
      source: {
        // Its own request context: the detector's timer may have been armed inside some KeyVaultSync's
        // fetch, whose priority and wait reports must not carry over to the detector's requests.
        list: async (kind: ListingKind) => {
          const listing = await withVaultRequestContext(DETECTOR_CONTEXT, () => listCurrentVersions(vaultUrl, auth.credential, this.#env, kind, { access: this.#access }));
          if (kind === 'secrets') this.#listed(entry, listing);
          return listing;
        },
        read: async (ref, notReadBefore) => {
          const load = async (startedAt: number): Promise<CachedRead> => {
            const v = await withVaultRequestContext(DETECTOR_CONTEXT, () => readObjectVersion(vaultUrl, auth.credential, this.#env, ref, undefined, { access: this.#access, decode: this.#decode }));
            detector.recordRead(ref, { version: v.version, updatedOn: v.updatedOn, answeredOn: v.answeredOn, enabled: true }, startedAt);
            if (v.version !== '') this.#objects.seed({ vaultUrl, type: ref.type, name: ref.name, version: v.version, identityKey }, v, startedAt);
            return v;
          };
          const got = await this.#objects.get({ vaultUrl, type: ref.type, name: ref.name, version: undefined, identityKey }, load, { notReadBefore });
          if ('versions' in got) throw new Error('object cache: a version list where a version was expected');
          return { version: got.version, updatedOn: got.updatedOn, answeredOn: got.answeredOn, enabled: true };
        },
        versions: (ref) => withVaultRequestContext(DETECTOR_CONTEXT, () => listVersionsOf(vaultUrl, auth.credential, this.#env, ref, { access: this.#access })),
        invalidate: (name, before) => this.#objects.invalidate({ vaultUrl, name, identityKey, ...(before === undefined ? {} : { before }) }),
      },
      onChanged: (syncKeys) => {
        for (const l of this.#listeners) l(syncKeys);
      },
      onList: (kind, result) => {
        this.#access.refreshEvents.tell({ kind: 'list', vault, result });
        // Logged on a change of permission only (the metric counts every listing).
        const forbidden = result === 'forbidden';
        if (result !== 'error' && forbidden !== listForbidden.has(kind)) {
          if (forbidden) listForbidden.add(kind);
          else listForbidden.delete(kind);
          this.#log?.info({ vault, listing: kind, identity: identityLogId(identityKey) }, forbidden ? 'change detection: listing forbidden (403); reading each object once per interval instead' : 'change detection: listing allowed');
        }
      },
      ...(this.#detection?.listRecheckMs === undefined ? {} : { listRecheckMs: this.#detection.listRecheckMs }),
      ...(this.#detection?.graceMs === undefined ? {} : { graceMs: this.#detection.graceMs }),
      now: () => this.#objects.now(),
    });
    // The listing callback above reports to this entry (it runs only after the detector's first cycle starts).
    const entry: DetectorEntry = { detector, vaultUrl, auth, secretsListing: undefined, selections: new Map() };
    return entry;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return url.toLowerCase();
  }
}

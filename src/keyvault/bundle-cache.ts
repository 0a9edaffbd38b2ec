/**
 * Decoded certificate bundles kept across reconciles, so that reading an object version again (a
 * force-sync, a new generation, another identity, another KeyVaultSync) decodes no PKCS#12 again.
 *
 * Keyed by vault, object name, version and a SHA-256 of the content type and value: a version's
 * content never changes in Key Vault, and the digest makes sure that a vault answering differently for
 * the same version is never served another answer's bundle. Bundles are built with the default options
 * only; other options are derived from them (withBundleOptions) without decoding.
 *
 * Failures that are properties of the content (not a certificate, wrong password, iteration limit) are
 * kept like bundles: a hostile object costs one decode per version, not one per reconcile. A decode
 * stopped at the decoder's time or memory limit is kept for `stoppedTtlMs`, then tried again (the
 * machine may have been busy). A busy decoder's refusal is never kept.
 *
 * Bounded in entries and bytes (least recently used evicted first). Keys hold no secret material.
 */
import { createHash } from 'node:crypto';
import { bundleFromKeyVaultSecret, type TlsBundle } from '../pki/bundle.ts';
import { DecoderBusyError, DecodeStoppedError } from '../pki/decode-pool.ts';
import { isPkiError, type PkiError } from '../pki/errors.ts';
import { ByteLru } from '../util/byte-lru.ts';

/** One object version's content to decode. */
export interface DecodeRequest {
  vaultUrl: string;
  /** The object's name in the vault. */
  name: string;
  /** The version read ('' when unknown: then only the digest tells contents apart). */
  version: string;
  contentType: string | undefined;
  value: string;
  /** Who the decode is for (a namespace): a decoder serves owners in turn. */
  owner: string;
}

/** Builds a bundle with the default options (bundleFromKeyVaultSecret, perhaps in a worker). */
export type DecodeBundle = (value: string, contentType: string | undefined, owner: string) => Promise<TlsBundle>;

/** Decodes in this thread (commands without a controller: render, mount). */
export const decodeInProcess: DecodeBundle = (value, contentType) => Promise.resolve().then(() => bundleFromKeyVaultSecret(value, contentType));

export interface BundleCacheOptions {
  /** Most bundles and failures kept; default 2,000. */
  maxEntries?: number;
  /** Most bytes of PEM text kept; default 16 MiB. */
  maxBytes?: number;
  /** How long a decode stopped at the decoder's limits is answered from the cache; default 10 min. */
  stoppedTtlMs?: number;
  now?: () => number;
  /** Told how each request was answered (metrics): `kept` (a kept result or a decode in flight) or `decoded`. */
  onResult?: (result: BundleCacheResult) => void;
}

export type BundleCacheResult = 'kept' | 'decoded';

export interface BundleCacheStats {
  /** Requests answered by a kept bundle or failure. */
  hits: number;
  /** Requests that joined a decode in flight. */
  shared: number;
  /** Decodes started. */
  decodes: number;
}

type Kept = { bundle: TlsBundle } | { error: PkiError; until: number };

/** Bytes a bundle holds, roughly: its PEM text. */
export function bundleBytes(b: TlsBundle): number {
  return b.certificateChainPem.length + (b.privateKeyPem?.length ?? 0) + (b.caPem?.length ?? 0) + (b.rootPem?.length ?? 0) + 512;
}

export class BundleCache {
  readonly #decode: DecodeBundle;
  readonly #kept: ByteLru<Kept>;
  readonly #inflight = new Map<string, Promise<TlsBundle>>();
  readonly #stoppedTtlMs: number;
  readonly #now: () => number;
  readonly #onResult: ((result: BundleCacheResult) => void) | undefined;
  readonly #stats: BundleCacheStats = { hits: 0, shared: 0, decodes: 0 };

  constructor(decode: DecodeBundle, opts: BundleCacheOptions = {}) {
    this.#decode = decode;
    this.#kept = new ByteLru({ maxEntries: opts.maxEntries ?? 2_000, maxBytes: opts.maxBytes ?? 16 * 1024 * 1024 });
    this.#stoppedTtlMs = Math.max(0, opts.stoppedTtlMs ?? 600_000);
    this.#now = opts.now ?? Date.now;
    this.#onResult = opts.onResult;
  }

  get stats(): Readonly<BundleCacheStats> {
    return { ...this.#stats };
  }

  get bytes(): number {
    return this.#kept.bytes;
  }

  /** The bundle of `req`'s content, decoded at most once while kept. @throws PkiError */
  get(req: DecodeRequest): Promise<TlsBundle> {
    const digest = createHash('sha256').update(req.contentType ?? '').update('\0').update(req.value).digest('hex');
    const key = [req.vaultUrl.replace(/\/+$/, '').toLowerCase(), req.name.toLowerCase(), req.version, digest].join('\0');
    const kept = this.#kept.get(key);
    if (kept !== undefined && ('bundle' in kept || kept.until > this.#now())) {
      this.#stats.hits++;
      this.#onResult?.('kept');
      return 'bundle' in kept ? Promise.resolve(kept.bundle) : Promise.reject(kept.error);
    }
    const running = this.#inflight.get(key);
    if (running !== undefined) {
      this.#stats.shared++;
      this.#onResult?.('kept');
      return running;
    }
    this.#stats.decodes++;
    this.#onResult?.('decoded');
    const flight = this.#decode(req.value, req.contentType, req.owner).then(
      (bundle) => {
        this.#inflight.delete(key);
        this.#kept.set(key, { bundle }, bundleBytes(bundle));
        return bundle;
      },
      (err: unknown) => {
        this.#inflight.delete(key);
        if (isPkiError(err) && !(err instanceof DecoderBusyError)) {
          const until = err instanceof DecodeStoppedError ? this.#now() + this.#stoppedTtlMs : Infinity;
          this.#kept.set(key, { error: err, until }, 512);
        }
        throw err;
      },
    );
    this.#inflight.set(key, flight);
    return flight;
  }
}

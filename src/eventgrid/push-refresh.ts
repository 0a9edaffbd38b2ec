/**
 * Turns a Key Vault "new version" event into one immediate refresh of every KeyVaultSync using the
 * object: the object is first marked changed in the sync pipeline (so the refresh reads it fresh,
 * never from a cache), then the affected keys are queued ahead of periodic refreshes.
 *
 * One refresh per change: an event id seen before (Event Grid delivers at least once) and a
 * (vault, object, version) seen before (Key Vault announces a certificate's new version both as
 * `CertificateNewVersionCreated` and as its backing secret's `SecretNewVersionCreated`) are duplicates.
 */
import { RecentSet } from './recent-set.ts';
import type { KeyVaultObjectChange } from './schema.ts';

export type RefreshOutcome = 'refreshed' | 'duplicate' | 'unmatched';

export interface PushRefreshDeps {
  /** `namespace/name` of the KeyVaultSyncs using the object (the informer-cache index). */
  affected(change: KeyVaultObjectChange): string[];
  /** Queues a key for an immediate, high-priority sync. */
  enqueue(key: string): void;
  /**
   * The pipeline's invalidation entry point: drops cached reads of the object (for every identity) and
   * may name further KeyVaultSyncs it knows use it. Absent when the pipeline has none.
   */
  markChanged?: ((change: KeyVaultObjectChange) => Iterable<string> | void) | undefined;
  recent?: RecentSet;
}

export class PushRefresher {
  readonly #d: PushRefreshDeps;
  readonly #recent: RecentSet;

  constructor(deps: PushRefreshDeps) {
    this.#d = deps;
    this.#recent = deps.recent ?? new RecentSet();
  }

  /** Refreshes what `change` concerns, once; answers what happened and the keys queued. */
  handle(change: KeyVaultObjectChange): { outcome: RefreshOutcome; keys: string[] } {
    const byId = `id:${change.eventId}`;
    const byVersion = `v:${change.vaultName}/${change.objectName.toLowerCase()}/${change.version.toLowerCase()}`;
    if (this.#recent.has(byId) || this.#recent.has(byVersion)) {
      this.#recent.add(byId);
      return { outcome: 'duplicate', keys: [] };
    }
    this.#recent.add(byId);
    this.#recent.add(byVersion);
    const keys = new Set(this.#d.affected(change));
    for (const k of this.#d.markChanged?.(change) ?? []) keys.add(k);
    for (const k of keys) this.#d.enqueue(k);
    return { outcome: keys.size === 0 ? 'unmatched' : 'refreshed', keys: [...keys] };
  }
}

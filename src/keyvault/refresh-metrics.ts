/**
 * What the object cache, the decoded-bundle cache and the change detectors of this process report for
 * metrics: how each cached read was answered (`hit`, `shared` in-flight read, `miss` = a new read), how
 * each certificate bundle was answered (`kept` or `decoded`) and each change-detection listing's
 * outcome per vault. Observers (the controller's metrics) subscribe; names of objects,
 * versions and values are never reported. One {@link RefreshEvents} per KeyVaultAccess (access.ts), so
 * two controllers in one process (tests) never count each other's events.
 */
import { Observers } from '../util/observers.ts';
import type { BundleCacheResult } from './bundle-cache.ts';
import type { ObjectCacheResult } from './object-cache.ts';

/** The outcome of one listing, for metrics: `ok`, `forbidden` (403) or `error`. */
export type ListResult = 'ok' | 'forbidden' | 'error';

export type RefreshEvent =
  | { kind: 'cache'; result: ObjectCacheResult }
  /** A certificate bundle asked of the decoded-bundle cache: kept, or decoded now. */
  | { kind: 'decode'; result: BundleCacheResult }
  /** `vault` is the vault's name (first label of its host). */
  | { kind: 'list'; vault: string; result: ListResult };

/** The refresh events of one KeyVaultAccess, told to its observers. */
export class RefreshEvents extends Observers<RefreshEvent> {}

/** The vault's name as metrics label it: the first label of the URL's host, lower case. */
export function vaultLabel(vaultUrl: string): string {
  try {
    return (new URL(vaultUrl).hostname.split('.')[0] ?? '').toLowerCase();
  } catch {
    return '';
  }
}

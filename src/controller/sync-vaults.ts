/**
 * The vault each KeyVaultSync reads, as the work queue's bulkhead groups them: the host (and port)
 * of its canonical vault URL, where its Key Vault requests go and the key the vault guard also uses.
 * Worked out once per generation.
 */
import { parseKeyVaultSync } from '../api/index.ts';
import type { VaultHostPolicy } from '../api/vault-url.ts';
import type { KeyVaultSyncObject } from './reconciler.ts';

export class SyncVaults {
  readonly #getSync: (key: string) => KeyVaultSyncObject | undefined;
  readonly #policy: VaultHostPolicy;
  readonly #known = new Map<string, { uid: string | undefined; generation: number | undefined; vault: string | undefined }>();

  constructor(getSync: (key: string) => KeyVaultSyncObject | undefined, policy: VaultHostPolicy) {
    this.#getSync = getSync;
    this.#policy = policy;
  }

  /** The vault host of the KeyVaultSync `namespace/name`; undefined when it is gone or its spec is invalid. */
  of(key: string): string | undefined {
    const obj = this.#getSync(key);
    if (obj === undefined) {
      this.#known.delete(key);
      return undefined;
    }
    const uid = obj.metadata?.uid;
    const generation = obj.metadata?.generation;
    const known = this.#known.get(key);
    if (known !== undefined && known.uid === uid && known.generation === generation) return known.vault;
    const parsed = parseKeyVaultSync(obj, this.#policy);
    const vault = parsed.ok ? new URL(parsed.value.vault.url).host : undefined;
    this.#known.set(key, { uid, generation, vault });
    return vault;
  }

  forget(key: string): void {
    this.#known.delete(key);
  }
}

/** Default bulkhead: one vault may hold at most half the workers (rounded up). */
export function defaultMaxWorkersPerVault(concurrency: number): number {
  return Math.ceil(concurrency / 2);
}

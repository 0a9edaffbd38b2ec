/**
 * The parsed spec of each KeyVaultSync in the informer cache, worked out once per generation (a spec
 * change always makes a new generation), and the vault each reads, as the work queue's bulkhead
 * groups them: the host (and port) of its canonical vault URL, where its Key Vault requests go and the
 * key the vault guard also uses. A refresh of an unchanged KeyVaultSync parses nothing.
 */
import { parseKeyVaultSync, type ParseResult, type ResolvedKeyVaultSync } from '../api/index.ts';
import type { VaultHostPolicy } from '../api/vault-url.ts';
import type { KeyVaultSyncObject } from './reconciler.ts';

interface Known {
  uid: string | undefined;
  generation: number | undefined;
  parsed: ParseResult<ResolvedKeyVaultSync>;
  vault: string | undefined;
}

export class SyncVaults {
  readonly #getSync: (key: string) => KeyVaultSyncObject | undefined;
  readonly #policy: VaultHostPolicy;
  readonly #known = new Map<string, Known>();

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
    return this.#knownOf(key, obj).vault;
  }

  /** `parseKeyVaultSync(obj)` under the operator's vault policy, kept while the object's uid and generation stay. */
  parse(obj: KeyVaultSyncObject): ParseResult<ResolvedKeyVaultSync> {
    return this.#knownOf(`${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`, obj).parsed;
  }

  forget(key: string): void {
    this.#known.delete(key);
  }

  #knownOf(key: string, obj: KeyVaultSyncObject): Known {
    const uid = obj.metadata?.uid;
    const generation = obj.metadata?.generation;
    const known = this.#known.get(key);
    // Without a generation (never from the apiserver) nothing says the spec is the same.
    if (known !== undefined && known.uid === uid && known.generation === generation && generation !== undefined) return known;
    const parsed = parseKeyVaultSync(obj, this.#policy);
    const fresh = { uid, generation, parsed, vault: parsed.ok ? new URL(parsed.value.vault.url).host : undefined };
    this.#known.set(key, fresh);
    return fresh;
  }
}

/** Default bulkhead: one vault may hold at most half the workers (rounded up). */
export function defaultMaxWorkersPerVault(concurrency: number): number {
  return Math.ceil(concurrency / 2);
}

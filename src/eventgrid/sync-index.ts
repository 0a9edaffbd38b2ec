/**
 * Which KeyVaultSyncs use a Key Vault object, answered from the informer cache: the KeyVaultSyncs'
 * specs are parsed once per generation (a spec change bumps it) and matched by vault name and object.
 *
 * A certificate is stored as a certificate, a backing secret and a backing key of the same name and
 * version, so a new certificate version concerns objects of every type with that name; a new secret
 * version concerns `secret` objects and, since Key Vault also announces a certificate's new backing
 * secret this way, `certificate`/`cert` objects of that name. Objects pinned to a version never change
 * (unless older versions are synced too, whose list moves with the current one).
 */
import { AZURE_VAULT_HOSTS_ONLY, parseKeyVaultSync } from '../api/index.ts';
import type { VaultHostPolicy } from '../api/index.ts';
import type { ObjectType } from '../api/keyvaultsync-schema.ts';
import type { KeyVaultSyncObject } from '../controller/reconciler.ts';
import type { KeyVaultObjectChange } from './schema.ts';

interface IndexedSync {
  generation: number | undefined;
  /** Lower-cased vault name, undefined when the spec does not parse. */
  vault: string | undefined;
  objects: { name: string; type: ObjectType; watched: boolean }[];
}

const TYPES_AFFECTED: Readonly<Record<KeyVaultObjectChange['objectType'], readonly ObjectType[]>> = {
  Secret: ['secret', 'certificate', 'cert'],
  Certificate: ['secret', 'certificate', 'cert', 'key'],
};

/** The vault name of a vault URL: its host's first label (`https://<name>.vault.azure.net`). */
export function vaultNameOfUrl(url: string): string | undefined {
  try {
    return new URL(url).hostname.split('.')[0]?.toLowerCase();
  } catch {
    return undefined;
  }
}

export class SyncIndex {
  readonly #list: () => Iterable<KeyVaultSyncObject>;
  /** by uid */
  readonly #parsed = new Map<string, IndexedSync>();
  readonly #vaults: VaultHostPolicy;

  /** `vaults`: the operator's vault host policy, as the reconciler parses with. */
  constructor(list: () => Iterable<KeyVaultSyncObject>, vaults: VaultHostPolicy = AZURE_VAULT_HOSTS_ONLY) {
    this.#list = list;
    this.#vaults = vaults;
  }

  #entry(o: KeyVaultSyncObject): IndexedSync {
    const uid = o.metadata?.uid ?? `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    const generation = o.metadata?.generation;
    const cached = this.#parsed.get(uid);
    if (cached !== undefined && cached.generation === generation) return cached;
    const parsed = parseKeyVaultSync(o, this.#vaults);
    const entry: IndexedSync = parsed.ok
      ? {
          generation,
          vault: vaultNameOfUrl(parsed.value.vault.url),
          objects: parsed.value.objects.map((x) => ({ name: x.name, type: x.type, watched: x.version === undefined || x.versionHistory > 1 })),
        }
      : { generation, vault: undefined, objects: [] };
    this.#parsed.set(uid, entry);
    return entry;
  }

  /** `namespace/name` of every KeyVaultSync the change concerns. Forgets the entries of deleted ones. */
  affected(change: Pick<KeyVaultObjectChange, 'vaultName' | 'objectType' | 'objectName'>): string[] {
    const types = TYPES_AFFECTED[change.objectType];
    const out: string[] = [];
    const live = new Set<string>();
    for (const o of this.#list()) {
      const uid = o.metadata?.uid ?? `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
      live.add(uid);
      const e = this.#entry(o);
      if (e.vault !== change.vaultName.toLowerCase()) continue;
      // Key Vault object names are case-insensitive.
      const name = change.objectName.toLowerCase();
      if (e.objects.some((x) => x.watched && types.includes(x.type) && x.name.toLowerCase() === name)) {
        out.push(`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`);
      }
    }
    for (const uid of this.#parsed.keys()) if (!live.has(uid)) this.#parsed.delete(uid);
    return out;
  }
}

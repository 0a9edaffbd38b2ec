/**
 * Object selectors (`secretObjects[].select`): many Key Vault objects chosen by name pattern and tags,
 * from the secrets listing that change detection already makes (a listing shows name, tags, content
 * type and whether a certificate manages the secret; it holds no values). `selectObjects` turns the
 * selectors into ordinary objects and Secret entries, so fetching, caching, change detection and
 * rendering treat a selected object like a declared one.
 *
 * Key rule (collision-free): a selected secret is the key `<keyPrefix><name>`, a selected certificate
 * `<keyPrefix><name>.pem`. Key Vault names are letters, digits and '-', unique per type and
 * case-insensitive, so two selected objects of one selector never share a key, and a secret never
 * shares one with a certificate. A key that another entry of the Secret already writes is refused
 * (InvalidSpec), never overwritten.
 */
import { LIMITS } from '../api/keyvaultsync-schema.ts';
import type { ResolvedKeyVaultSync, ResolvedObject, ResolvedSecretOutput, ResolvedSelector } from '../api/resolved.ts';
import { SyncError, toSyncError } from './errors.ts';
import { isCertificateContentType, type ListedVersion } from './fetch.ts';

/** Whether `name` matches the glob `pattern` (`*` any run, `?` one character), whole and case-insensitive. */
export function globMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  // Greedy matching with one backtrack point (the last `*`): O(|p|·|n|) at worst, no regular expression.
  let pi = 0;
  let ni = 0;
  let star = -1;
  let mark = 0;
  while (ni < n.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === n[ni])) {
      pi++;
      ni++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ni;
    } else if (star >= 0) {
      pi = star + 1;
      ni = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

function selects(sel: ResolvedSelector, item: ListedVersion): boolean {
  if (!item.enabled) return false;
  const isCertificate = item.managed && isCertificateContentType(item.contentType);
  if (sel.type === 'certificate' ? !isCertificate : item.managed) return false;
  if (sel.namePattern !== undefined && !globMatches(sel.namePattern, item.name)) return false;
  return Object.entries(sel.tags).every(([k, v]) => item.tags[k] === v);
}

/** True when any Secret of the KeyVaultSync selects objects. */
export function hasSelectors(sync: ResolvedKeyVaultSync): boolean {
  return sync.secrets.some((s) => (s.selectors?.length ?? 0) > 0);
}

export interface Selection {
  /** The KeyVaultSync with every selected object added to `objects` and its key to its Secret. */
  sync: ResolvedKeyVaultSync;
  /** The selected objects, as one string: equal strings mean the same selection. */
  signature: string;
}

/**
 * Expands the selectors against a secrets listing (by lower-case name, as listCurrentVersions returns
 * it). Selected objects are `optional`: one deleted between the listing and its read is left out until
 * the next listing, instead of failing the sync.
 * @throws SyncError InvalidSpec when a selected key is already written by another entry, or when the
 *   selection would read more object versions than a KeyVaultSync may.
 */
export function selectObjects(sync: ResolvedKeyVaultSync, listing: ReadonlyMap<string, ListedVersion>): Selection {
  if (!hasSelectors(sync)) return { sync, signature: '' };
  const items = [...listing.values()].sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  const selected = new Map<string, ResolvedObject>();
  const secrets = sync.secrets.map((s): ResolvedSecretOutput => {
    if (s.selectors === undefined) return s;
    const entries = [...s.entries];
    const keys = new Set(entries.flatMap((e) => (e.kind === 'split' ? [] : [e.key])));
    const added = new Set<string>();
    for (const sel of s.selectors) {
      for (const item of items) {
        if (!selects(sel, item)) continue;
        const outputName = `select:${sel.type}:${item.name.toLowerCase()}`;
        const key = `${sel.keyPrefix}${item.name}${sel.type === 'certificate' ? '.pem' : ''}`;
        if (added.has(`${outputName}\0${key}`)) continue; // the same object under the same key twice
        if (keys.has(key)) throw new SyncError('InvalidSpec', `Secret "${s.name}": the selected ${sel.type} "${item.name}" would write key "${key}", which another entry of the Secret writes; set a keyPrefix`, { object: item.name });
        if (!selected.has(outputName)) {
          selected.set(outputName, { name: item.name, type: sel.type, outputName, version: undefined, versionHistory: 1, encoding: 'utf-8', format: 'pem', optional: true, filePermission: 0o644, split: undefined, source: 'select' });
        }
        keys.add(key);
        added.add(`${outputName}\0${key}`);
        entries.push({ kind: 'key', key, object: outputName, part: 'content' });
      }
    }
    return { ...s, entries };
  });
  const declaredReads = sync.objects.reduce((n, o) => n + (o.version === undefined ? o.versionHistory : 1), 0);
  if (declaredReads + selected.size > LIMITS.objectReads) {
    throw new SyncError('InvalidSpec', `the selectors match ${selected.size} objects; with the declared objects that is more than the ${LIMITS.objectReads} object versions a KeyVaultSync may read per sync; narrow namePattern or tags`);
  }
  const objects = [...selected.values()];
  return { sync: { ...sync, objects: [...sync.objects, ...objects], secrets }, signature: objects.map((o) => o.outputName).join('\n') };
}

/**
 * `selectObjects` against `listing`, or against a listing `list` makes now when none is given. Never
 * throws: a failed listing or a refused selection comes back as a SyncError naming the vault.
 */
export async function selectFromListing(
  sync: ResolvedKeyVaultSync,
  listing: ReadonlyMap<string, ListedVersion> | undefined,
  list: () => Promise<Map<string, ListedVersion>>,
): Promise<(Selection & { listing: ReadonlyMap<string, ListedVersion> }) | { failure: SyncError }> {
  try {
    const used = listing ?? (await list());
    return { ...selectObjects(sync, used), listing: used };
  } catch (err) {
    return { failure: toSyncError(err, { vault: sync.vault.name ?? sync.vault.url, object: 'the listing of secrets' }) };
  }
}

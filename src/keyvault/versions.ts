/**
 * The one listing of an object's versions (metadata only, never a value), and the order kvsync gives
 * them. Used by fetch.ts (`versionHistory`), the change detector (versions created in the second of a
 * read) and the newer-version check of pinned certificates.
 *
 * Which endpoint lists which object type:
 * - `secret`: `GET /secrets/{name}/versions`.
 * - `certificate`: the backing secret's versions (`GET /secrets/{name}/versions`). A `certificate`
 *   object is read through its backing secret, so its versions are the ones that can be read; the
 *   secret and the certificate share version ids, and the secret is what the identity needs access to.
 * - `cert`: `GET /certificates/{name}/versions`. A `cert` object is read through the certificate
 *   endpoint, by identities that may read certificates but not secrets.
 * - `key`: `GET /keys/{name}/versions`.
 *
 * Key Vault lists versions sorted by version id, which says nothing about age, and `created` has a
 * resolution of one second. So the listing never decides which version is current: that is what Key
 * Vault answers to the unversioned GET.
 */
import type { ObjectType } from '../api/keyvaultsync-schema.ts';
import type { VaultClients } from './access.ts';

/** One version as a listing shows it. */
export interface ObjectVersion {
  version: string;
  enabled: boolean;
  createdOn: Date | undefined;
  updatedOn: Date | undefined;
}

/** Key Vault's largest list page. */
export const LIST_PAGE_SIZE = 25;

interface ListedProperties {
  version?: string | undefined;
  enabled?: boolean | undefined;
  createdOn?: Date | undefined;
  updatedOn?: Date | undefined;
}

function listingOf(clients: VaultClients, object: { type: ObjectType; name: string }): AsyncIterable<ListedProperties[]> {
  const page = { maxPageSize: LIST_PAGE_SIZE };
  switch (object.type) {
    case 'key':
      return clients.keys.listPropertiesOfKeyVersions(object.name).byPage(page);
    case 'cert':
      return clients.certificates.listPropertiesOfCertificateVersions(object.name).byPage(page);
    case 'secret':
    case 'certificate':
      return clients.secrets.listPropertiesOfSecretVersions(object.name).byPage(page);
  }
}

/**
 * Every version of `object` (enabled or not) in Key Vault's listing order, pages of 25.
 * @throws the SDK's RestError (403 when the identity may not list)
 */
export async function listObjectVersions(clients: VaultClients, object: { type: ObjectType; name: string }): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  for await (const page of listingOf(clients, object)) {
    for (const p of page) {
      if (p.version !== undefined) out.push({ version: p.version, enabled: p.enabled !== false, createdOn: p.createdOn, updatedOn: p.updatedOn });
    }
  }
  return out;
}

/** What the ordering needs of a listed version (`enabled` absent = enabled). */
export type VersionStamp = Pick<ObjectVersion, 'version' | 'createdOn'> & { enabled?: boolean };

const createdMs = (v: VersionStamp): number => v.createdOn?.getTime() ?? 0;
const sameVersion = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/**
 * Up to `count` enabled versions other than `current`, newest first, none created after `current` (a
 * version created after the current one was read is the next read's concern). Versions created in the
 * same second have no knowable order: they are ordered by descending version id, only to be stable.
 */
export function olderVersions(listed: readonly VersionStamp[], current: string, count: number): string[] {
  const mine = listed.find((v) => sameVersion(v.version, current));
  const limit = mine === undefined ? Infinity : createdMs(mine);
  return listed
    .filter((v) => v.enabled !== false && !sameVersion(v.version, current) && createdMs(v) <= limit)
    .sort((a, b) => createdMs(b) - createdMs(a) || (a.version < b.version ? 1 : a.version > b.version ? -1 : 0))
    .slice(0, Math.max(0, count))
    .map((v) => v.version);
}

/**
 * Whether an enabled version newer than `pinned` exists. `true`/`false` when the listing says so (one
 * was created in a later second, or none in the same second or later); `undefined` when the only
 * candidates share `pinned`'s second, where only the current version (the unversioned GET) can tell.
 */
export function newerThanPinned<V extends VersionStamp>(listed: readonly V[], pinned: string): { newer: V | undefined } | undefined {
  const mine = listed.find((v) => sameVersion(v.version, pinned));
  const others = listed.filter((v) => v.enabled !== false && !sameVersion(v.version, pinned));
  if (mine === undefined) {
    // The pinned version is gone from the listing: the newest enabled one (if any) is newer.
    const newest = [...others].sort((a, b) => createdMs(b) - createdMs(a))[0];
    return { newer: newest };
  }
  const later = others.filter((v) => createdMs(v) > createdMs(mine)).sort((a, b) => createdMs(b) - createdMs(a));
  if (later[0] !== undefined) return { newer: later[0] };
  const sameSecond = others.some((v) => Math.floor(createdMs(v) / 1000) === Math.floor(createdMs(mine) / 1000));
  return sameSecond ? undefined : { newer: undefined };
}

/**
 * Lists an object's enabled versions (metadata only, never a value): one paged listing (25 per page),
 * through the same SDK clients, retry options and request metrics as fetch.ts. Used to tell that Key
 * Vault holds a newer version than the one a KeyVaultSync pins.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { ResolvedKeyVaultSync, ResolvedObject } from '../api/resolved.ts';
import type { AzureEnvironment } from './azure-environment.ts';
import type { KeyVaultAccess } from './access.ts';
import { versionProperties } from './fetch.ts';

export interface ObjectVersion {
  version: string;
  createdOn: Date | undefined;
}

/**
 * Enabled versions of `object` in `sync`'s vault, in listing order. `certificate`/`cert` objects are
 * listed as certificates, `secret` and `key` objects as what they are.
 * @throws the SDK's RestError (403 when the identity may not list, 404 when the object is gone)
 */
export async function listEnabledVersions(sync: ResolvedKeyVaultSync, credential: TokenCredential, env: AzureEnvironment, object: ResolvedObject, access: KeyVaultAccess): Promise<ObjectVersion[]> {
  const clients = access.clientsFor(sync.vault.url, credential, env, 2);
  const out: ObjectVersion[] = [];
  for await (const p of versionProperties(clients, object)) {
    if (p.version !== undefined && p.enabled !== false) out.push({ version: p.version, createdOn: p.createdOn });
  }
  return out;
}

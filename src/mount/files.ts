/**
 * Fetched objects → the files `kvsync mount` writes (an atomic-writer payload), CSI driver style:
 * one file per object alias (`outputName`) holding the object's `content` as renderOutputs builds it
 * (secrets decoded per `objectEncoding`; certificates as PEM with the private key then the chain, or
 * PKCS#12 bytes with `objectFormat: pfx`; `cert` and `key` objects as public PEM), with the object's
 * `filePermission`. An object with `objectVersionHistory > 1` becomes a directory `<alias>/` with one
 * file per version, `0` the newest (as the CSI Azure provider writes it).
 *
 * Optional objects that were not fetched are left out. Pure: no I/O.
 */
import type { ResolvedKeyVaultSync, ResolvedObject, ResolvedSecretOutput } from '../api/resolved.ts';
import type { FetchedObject } from '../keyvault/fetch.ts';
import { renderOutputs } from '../keyvault/outputs.ts';
import type { Payload } from './atomic-writer.ts';

/** A render-only Secret holding the `content` of `objects` under their output names. */
function contentSecret(objects: ResolvedObject[]): ResolvedSecretOutput {
  return {
    name: 'kvsync-mount',
    type: 'Opaque',
    labels: {},
    annotations: {},
    creationPolicy: 'Owner',
    tls: undefined,
    entries: objects.map((o) => ({ kind: 'key', key: o.outputName, object: o.outputName, part: 'content' })),
  };
}

/**
 * The files for `fetched`.
 * @throws SyncError (from renderOutputs) when a required object was not fetched or its content cannot be
 *   built (bad encoding, a certificate without an exportable key for `pfx`, a key that does not match).
 */
export function payloadFor(sync: ResolvedKeyVaultSync, fetched: FetchedObject[]): Payload {
  const payload: Payload = {};
  // One object per synthetic Secret: renderOutputs' 1 MiB Secret limit then applies per file, not per mount.
  for (const object of sync.objects) {
    const mine = fetched.filter((f) => f.object === object);
    const indexes = object.versionHistory > 1 ? [...new Set(mine.map((f) => f.historyIndex))].sort((a, b) => a - b) : [0];
    for (const index of indexes) {
      const asCurrent = mine.filter((f) => f.historyIndex === index).map((f) => ({ ...f, historyIndex: 0 }));
      const rendered = renderOutputs({ ...sync, objects: [object], secrets: [contentSecret([object])], configMaps: [] }, asCurrent);
      const data = rendered.secrets[0]?.data[object.outputName];
      if (data === undefined) continue; // an optional object that was not fetched
      const path = object.versionHistory > 1 ? `${object.outputName}/${index}` : object.outputName;
      payload[path] = { data, mode: object.filePermission };
    }
  }
  return payload;
}

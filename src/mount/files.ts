/**
 * Fetched objects → the files `kvsync mount` writes (an atomic-writer payload), CSI driver style:
 * one file per object alias (`outputName`) holding the object's `content` as renderOutputs builds it
 * (secrets decoded per `objectEncoding`; certificates as PEM with the private key then the chain, or
 * PKCS#12 bytes with `objectFormat: pfx`; `cert` and `key` objects as public PEM), with the object's
 * `filePermission`. An object with `objectVersionHistory > 1` becomes a directory `<alias>/` with one
 * file per version, `0` the newest (as the CSI Azure provider writes it).
 *
 * When the spec reads `<alias>.crt` / `<alias>.key` (`separateCertKeyFiles`), every PEM certificate
 * that carries its private key also gets those two files beside its own, as the CSI provider writes
 * them with `--write-cert-and-key-in-separate-files`: the chain (leaf, then intermediates) and the
 * private key (PKCS#8), with the object's `filePermission`; `<alias>/<n>.crt` / `.key` per version.
 *
 * Optional objects that were not fetched are left out. Pure: no I/O.
 */
import type { OutputPart, ResolvedKeyVaultSync, ResolvedObject, ResolvedSecretOutput } from '../api/resolved.ts';
import type { FetchedObject } from '../keyvault/fetch.ts';
import { renderOutputs } from '../keyvault/outputs.ts';
import type { Payload } from './atomic-writer.ts';

/** A file of one object: the suffix after its path, and which part of the object it holds. */
interface FilePart {
  suffix: '' | '.crt' | '.key';
  part: OutputPart;
}

const CONTENT: FilePart = { suffix: '', part: 'content' };

/** A render-only Secret holding the given parts of one object under their suffixes. */
function partsSecret(object: ResolvedObject, parts: FilePart[]): ResolvedSecretOutput {
  return {
    name: 'kvsync-mount',
    type: 'Opaque',
    labels: {},
    annotations: {},
    creationPolicy: 'Owner',
    tls: undefined,
    entries: parts.map((p) => ({ kind: 'key', key: `${object.outputName}${p.suffix}`, object: object.outputName, part: p.part })),
  };
}

/**
 * The parts written for one version of an object: its content, and with `separate` the `.crt` / `.key`
 * files of a PEM certificate with its key (the `.key` only when the key was readable, as the combined
 * file holds it only then). A file another object already writes under that name is that object's.
 */
function partsOf(object: ResolvedObject, version: FetchedObject[], separate: boolean, taken: ReadonlySet<string>): FilePart[] {
  const m = version[0]?.material;
  const carriesCertificate = (object.type === 'certificate' || object.type === 'secret') && object.format === 'pem' && m?.kind === 'certificate';
  if (!separate || !carriesCertificate) return [CONTENT];
  const parts: FilePart[] = [CONTENT, { suffix: '.crt', part: 'tls.crt' }];
  if (m.bundle.privateKeyPem !== undefined) parts.push({ suffix: '.key', part: 'tls.key' });
  return parts.filter((p) => p.suffix === '' || !taken.has(`${object.outputName}${p.suffix}`));
}

/**
 * The files for `fetched`.
 * @throws SyncError (from renderOutputs) when a required object was not fetched or its content cannot be
 *   built (bad encoding, a certificate without an exportable key for `pfx`, a key that does not match).
 */
export function payloadFor(sync: ResolvedKeyVaultSync, fetched: FetchedObject[]): Payload {
  const payload: Payload = {};
  const separate = sync.separateCertKeyFiles === true;
  const outputNames = new Set(sync.objects.map((o) => o.outputName));
  // One object per synthetic Secret: renderOutputs' 1 MiB Secret limit then applies per object, not per mount.
  for (const object of sync.objects) {
    const mine = fetched.filter((f) => f.object === object);
    const history = object.versionHistory > 1;
    const indexes = history ? [...new Set(mine.map((f) => f.historyIndex))].sort((a, b) => a - b) : [0];
    for (const index of indexes) {
      const asCurrent = mine.filter((f) => f.historyIndex === index).map((f) => ({ ...f, historyIndex: 0 }));
      const parts = partsOf(object, asCurrent, separate, history ? new Set() : outputNames);
      const rendered = renderOutputs({ ...sync, objects: [object], secrets: [partsSecret(object, parts)], configMaps: [] }, asCurrent);
      const data = rendered.secrets[0]?.data ?? {};
      for (const p of parts) {
        const bytes = data[`${object.outputName}${p.suffix}`];
        if (bytes === undefined) continue; // an optional object that was not fetched
        const path = history ? `${object.outputName}/${index}${p.suffix}` : `${object.outputName}${p.suffix}`;
        payload[path] = { data: bytes, mode: object.filePermission };
      }
    }
  }
  return payload;
}

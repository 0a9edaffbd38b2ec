/**
 * Drift repair: a Secret kvsync wrote that no longer holds what kvsync wrote (edited out of band) or
 * that was deleted brings its KeyVaultSync back to the queue, ahead of refreshes.
 *
 * What kvsync wrote is known by the MAC of its data. WrittenMacs (written-macs.ts) records a MAC
 * *before* the write is sent: the watch event of kvsync's own write can arrive before the write's response, and must not
 * look like a change made by someone else. After a restart nothing is recorded yet, and the MAC in the
 * KeyVaultSync's status (`status.secrets[].dataMAC`) is used instead.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { SYNC_LABEL } from './labels.ts';
import { dataMac, macMatches } from './mac.ts';
import type { KeyVaultSyncObject } from './reconciler.ts';
import type { WrittenMacs } from './written-macs.ts';

export type DriftCause = 'changed' | 'deleted';

export interface DriftRepairDeps {
  /** The KeyVaultSync from the informer cache. */
  getSync(namespace: string, name: string): KeyVaultSyncObject | undefined;
  written: WrittenMacs;
  macKey: Buffer;
  /** Brings the KeyVaultSync `namespace/name` back to the queue. */
  enqueue(key: string): void;
  log: Logger;
  /** Told of each repair (the `kvsync_drift_repairs_total` metric). */
  onRepair?(cause: DriftCause): void;
}

export class DriftRepair {
  readonly #d: DriftRepairDeps;

  constructor(deps: DriftRepairDeps) {
    this.#d = deps;
  }

  /**
   * A watch event of a Secret labelled as kvsync's: enqueues its KeyVaultSync when the Secret was
   * deleted or holds data kvsync did not write. Returns whether it did.
   */
  secretChanged(secret: k8s.V1Secret, deleted: boolean): boolean {
    const owner = secret.metadata?.labels?.[SYNC_LABEL];
    const namespace = secret.metadata?.namespace;
    if (owner === undefined || namespace === undefined) return false;
    const sync = this.#d.getSync(namespace, owner);
    if (sync === undefined) return false;
    const name = secret.metadata?.name ?? '';
    const subject = { namespace, name, type: secret.type ?? 'Opaque' };
    const data = decoded(secret.data);
    const mac = dataMac(this.#d.macKey, subject, data);
    const wrote = this.#d.written.wrote(namespace, name, mac);
    const recorded = statusMac(sync, name);
    // Nothing recorded at all: kvsync has nothing to compare with.
    if (wrote === undefined && recorded === undefined) return false;
    // This replica's record first; after a restart, the MAC in the KeyVaultSync's status (which may
    // be in an earlier release's form: macMatches recognises it).
    if (!deleted && (wrote ?? (recorded !== undefined && macMatches(this.#d.macKey, recorded, subject, data, mac)))) return false;
    this.#d.log.info({ keyVaultSync: `${namespace}/${owner}`, secret: name, deleted }, 'managed Secret changed out of band; repairing');
    this.#d.onRepair?.(deleted ? 'deleted' : 'changed');
    this.#d.enqueue(`${namespace}/${owner}`);
    return true;
  }
}

function statusMac(sync: KeyVaultSyncObject, secretName: string): string | undefined {
  return sync.status?.secrets?.find((s) => s.name === secretName)?.dataMAC;
}

function decoded(data: Readonly<Record<string, string>> | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

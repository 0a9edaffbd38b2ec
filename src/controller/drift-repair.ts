/**
 * Drift repair: a Secret kvsync wrote that no longer holds what kvsync wrote (edited out of band) or
 * that was deleted brings its KeyVaultSync or ClusterKeyVaultSync back to the queue, ahead of
 * refreshes. Only the leader repairs.
 *
 * What kvsync wrote is known by the MAC of its data. WrittenMacs (written-macs.ts) records a MAC
 * *before* the write is sent: the watch event of kvsync's own write can arrive before the write's response, and must not
 * look like a change made by someone else. After a restart nothing is recorded yet, and the MAC in the
 * KeyVaultSync's status (`status.secrets[].dataMAC`) is used instead.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CLUSTER_SYNC_LABEL, SYNC_LABEL } from './labels.ts';
import { dataMac, macMatches } from './mac.ts';
import type { KeyVaultSyncObject } from './reconciler.ts';
import type { WrittenMacs } from './written-macs.ts';

export type DriftCause = 'changed' | 'deleted';

/** The resource a managed Secret belongs to, as one kind of owner knows it. */
interface DriftOwner {
  /** Its key in its work queue. */
  key: string;
  /** How the log line names the owner and the Secret. */
  logFields: Record<string, string>;
  /** The MAC its status recorded for the Secret: compared when this replica wrote nothing there (after a restart). */
  recordedMac: string | undefined;
}

/** What drift repair needs whatever kind of resource owns the Secret. */
export interface DriftRepairDeps {
  /**
   * Only the leader repairs. A standby writes nothing, so each write the leader makes would look to it
   * like data kvsync did not write; and a replica that becomes leader requeues everything anyway.
   */
  isLeader(): boolean;
  written: WrittenMacs;
  macKey: Buffer;
  /** Brings the owner (by its queue key) back to the queue. */
  enqueue(key: string): void;
  log: Logger;
  /** Told of each repair (the `kvsync_drift_repairs_total` metric). */
  onRepair?(cause: DriftCause): void;
}

/** How one kind of owner is found from its Secret. */
interface OwnerKind {
  /** The label on the Secret that names the owner. */
  label: string;
  /** The owner named by the label; undefined when there is none to repair. */
  find(namespace: string, owner: string, secret: string): DriftOwner | undefined;
  /** With no record of the Secret's data at all: whether to sync the owner again anyway. */
  repairUnrecorded: boolean;
}

export class DriftRepair {
  readonly #d: DriftRepairDeps;
  readonly #owner: OwnerKind;

  private constructor(deps: DriftRepairDeps, owner: OwnerKind) {
    this.#d = deps;
    this.#owner = owner;
  }

  /** For the Secrets of KeyVaultSyncs: the owner from the informer cache, its status MAC after a restart. */
  static forKeyVaultSyncs(deps: DriftRepairDeps & { getSync(namespace: string, name: string): KeyVaultSyncObject | undefined }): DriftRepair {
    return new DriftRepair(deps, {
      label: SYNC_LABEL,
      find: (namespace, owner, secret) => {
        const sync = deps.getSync(namespace, owner);
        return sync === undefined ? undefined : { key: `${namespace}/${owner}`, logFields: { keyVaultSync: `${namespace}/${owner}`, secret }, recordedMac: statusMac(sync, secret) };
      },
      // A sync follows soon after a restart; until then there is nothing to tell kvsync's data by.
      repairUnrecorded: false,
    });
  }

  /**
   * For the Secrets of ClusterKeyVaultSyncs, whose status records no MAC (one per namespace would not
   * fit): after a restart any change is simply synced again (level-based, a write only where the
   * Secret differs).
   */
  static forClusterKeyVaultSyncs(deps: DriftRepairDeps): DriftRepair {
    return new DriftRepair(deps, {
      label: CLUSTER_SYNC_LABEL,
      find: (namespace, owner, secret) => ({ key: owner, logFields: { clusterKeyVaultSync: owner, secret: `${namespace}/${secret}` }, recordedMac: undefined }),
      repairUnrecorded: true,
    });
  }

  /**
   * A watch event of a Secret labelled as kvsync's: on the leader, enqueues its owner when the Secret
   * was deleted or holds data kvsync did not write. Returns whether it did.
   */
  secretChanged(secret: k8s.V1Secret, deleted: boolean): boolean {
    if (!this.#d.isLeader()) return false;
    const ownerName = secret.metadata?.labels?.[this.#owner.label];
    const namespace = secret.metadata?.namespace;
    if (ownerName === undefined || namespace === undefined) return false;
    const name = secret.metadata?.name ?? '';
    const owner = this.#owner.find(namespace, ownerName, name);
    if (owner === undefined || !this.#drifted(secret, namespace, name, owner.recordedMac, deleted)) return false;
    this.#d.log.info({ ...owner.logFields, deleted }, 'managed Secret changed out of band; repairing');
    this.#d.onRepair?.(deleted ? 'deleted' : 'changed');
    this.#d.enqueue(owner.key);
    return true;
  }

  #drifted(secret: k8s.V1Secret, namespace: string, name: string, recordedMac: string | undefined, deleted: boolean): boolean {
    const subject = { namespace, name, type: secret.type ?? 'Opaque' };
    const data = decoded(secret.data);
    const mac = dataMac(this.#d.macKey, subject, data);
    const wrote = this.#d.written.wrote(namespace, name, mac);
    if (wrote === undefined && recordedMac === undefined) return this.#owner.repairUnrecorded;
    if (deleted) return true;
    // This replica's record first; after a restart, the MAC in the owner's status (which may be in an
    // earlier release's form: macMatches recognises it).
    return !(wrote ?? (recordedMac !== undefined && macMatches(this.#d.macKey, recordedMac, subject, data, mac)));
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

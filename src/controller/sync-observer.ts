/**
 * The reconciler's one hook after a sync's Secrets are written: what happened to the data, for the
 * rollouts (rollouts.ts) and the certificate warnings (certificate-watch.ts).
 *
 * A Secret's data "really changed" when its data MAC differs from the MAC the previous successful sync
 * recorded in status. Comparing with status (not with this write's outcome) makes the decision
 * level-based: a crash or failed status write between the Secret write and the rollout is caught by the
 * next reconcile, and a Secret created now (no recorded MAC), a metadata-only write or an unchanged
 * refresh is never a change.
 */
import type { KeyVaultSyncStatus, ResolvedKeyVaultSync } from '../api/index.ts';
import type { EventTarget } from './events.ts';
import { dataMac, macMatches } from './mac.ts';
import type { DesiredSecret, PipelineFetchedObject } from './pipeline.ts';

export interface SyncedContext {
  sync: ResolvedKeyVaultSync;
  target: EventTarget;
  /** No successful sync is recorded in status yet: nothing was in place before, so nothing "changed". */
  firstSync: boolean;
  /** Data MAC of every Secret written now, by name. */
  secretMacs: ReadonlyMap<string, string>;
  /** Secrets whose data MAC differs from the one of the previous successful sync (never on first sync). */
  changedSecrets: readonly string[];
  fetched: readonly PipelineFetchedObject[];
  /** The credential the objects were fetched with (for extra Key Vault reads such as version listings). */
  credential: unknown;
}

/** Called once per successful sync, after the Secrets are written and before status. Never throws. */
export interface SyncObserver {
  synced(ctx: SyncedContext): Promise<void>;
}

/**
 * The named steps of one sync, in order: its objects fetched (nothing written yet), one Secret written
 * (once per Secret; the next is not yet), and every output written with the status write next.
 */
export type SyncStep = 'fetched' | 'secretWritten' | 'beforeStatus';

export interface SyncStepContext {
  namespace: string;
  name: string;
  /** The Secret just written (step `secretWritten`). */
  secret?: string;
  /** The fetched objects' versions by output name (every step). */
  versions: ReadonlyMap<string, string>;
}

/**
 * Told when a sync reaches each {@link SyncStep}; the sync waits for it. For tracing and for fault
 * injection at an exact point of a sync (a process stopped between two Secret writes).
 */
export interface SyncStepObserver {
  reached(step: SyncStep, ctx: SyncStepContext): Promise<void>;
}

/** Runs several observers in order; each one's failure is its own (they never throw by contract). */
export function observers(...list: SyncObserver[]): SyncObserver {
  return {
    synced: async (ctx) => {
      for (const o of list) await o.synced(ctx);
    },
  };
}

/** The data MAC of each Secret, by name: computed once per sync, for the write record, the change facts and status. */
export function secretMacsOf(macKey: Buffer, namespace: string, secrets: readonly DesiredSecret[]): Map<string, string> {
  return new Map(secrets.map((s) => [s.name, dataMac(macKey, { namespace, name: s.name, type: s.type }, s.data)]));
}

/**
 * The change facts of one sync: first sync, MACs now, and the Secrets whose data changed. A recorded
 * MAC is checked with {@link macMatches}, so a MAC of an earlier release's form is no change. `macs`:
 * the Secrets' MACs when the caller has them ({@link secretMacsOf}).
 */
export function dataChanges(previous: KeyVaultSyncStatus | undefined, namespace: string, secrets: readonly DesiredSecret[], macKey: Buffer, macs: ReadonlyMap<string, string> = secretMacsOf(macKey, namespace, secrets)): Pick<SyncedContext, 'firstSync' | 'secretMacs' | 'changedSecrets'> {
  const firstSync = previous?.lastSyncTime === undefined;
  const before = new Map((previous?.secrets ?? []).map((s) => [s.name, s.dataMAC]));
  const secretMacs = macs;
  const changedSecrets = firstSync
    ? []
    : secrets
        .filter((s) => {
          const recorded = before.get(s.name);
          return recorded !== undefined && !macMatches(macKey, recorded, { namespace, name: s.name, type: s.type }, s.data, macs.get(s.name));
        })
        .map((s) => s.name);
  return { firstSync, secretMacs, changedSecrets };
}

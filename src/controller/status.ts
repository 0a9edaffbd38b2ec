/**
 * Builds the KeyVaultSync status the reconciler writes through the status subresource. Pure
 * functions: given the previous status and what happened, the next status (unit-tested).
 */
import { createHash } from 'node:crypto';
import type { KeyVaultSyncStatus } from '../api/index.ts';
import { findCondition, setCondition, type Condition } from './conditions.ts';
import { dataMac } from './mac.ts';
import type { DesiredSecret, PipelineFetchedObject } from './pipeline.ts';

export const READY = 'Ready';
export const SYNCED = 'Synced';

type ObjectStatus = NonNullable<KeyVaultSyncStatus['objects']>[number];
type SecretStatus = NonNullable<KeyVaultSyncStatus['secrets']>[number];

/** The status fields kvsync writes; a merge patch of these leaves everything else in place. */
export interface StatusPatch {
  observedGeneration?: number | undefined;
  conditions: Condition[];
  lastSyncTime?: string;
  objects?: ObjectStatus[];
  secrets?: SecretStatus[];
  configMaps?: { name: string }[] | undefined;
}

export function objectStatuses(fetched: readonly PipelineFetchedObject[]): ObjectStatus[] {
  return fetched.filter((f) => (f.historyIndex ?? 0) === 0).map((f) => {
    // A selected object's output name is internal (select:<type>:<name>): status shows its vault name.
    const s: ObjectStatus = { name: f.object.source === 'select' ? f.object.name : f.object.outputName, version: f.version };
    if (f.contentType !== undefined) s.contentType = f.contentType;
    if (f.expiresOn !== undefined) s.expiresAt = f.expiresOn.toISOString();
    if (f.updatedOn !== undefined) s.updated = f.updatedOn.toISOString();
    return s;
  });
}

/** Each Secret's name and data MAC; `macs` holds the MACs the caller computed already, by Secret name. */
export function secretStatuses(macKey: Buffer, namespace: string, secrets: readonly DesiredSecret[], macs?: ReadonlyMap<string, string>): SecretStatus[] {
  return secrets.map((s) => ({ name: s.name, dataMAC: macs?.get(s.name) ?? dataMac(macKey, { namespace, name: s.name, type: s.type }, s.data) }));
}

/** Status after a successful sync: both conditions True, per-object and per-Secret state. */
export function successStatus(
  previous: KeyVaultSyncStatus | undefined,
  input: { generation: number | undefined; now: Date; namespace: string; fetched: readonly PipelineFetchedObject[]; secrets: readonly DesiredSecret[]; configMaps?: readonly { name: string }[]; macKey: Buffer; macs?: ReadonlyMap<string, string> },
): StatusPatch {
  // The same words for every successful sync of the same outputs, so a refresh that changed nothing
  // leaves the conditions as they were (and writes no status); what was written is in the events.
  const message = `synced ${input.fetched.length} object(s) into ${input.secrets.length} Secret(s)`;
  let conditions = setCondition(previous?.conditions, { type: SYNCED, status: 'True', reason: 'Synced', message, observedGeneration: input.generation }, input.now);
  conditions = setCondition(conditions, { type: READY, status: 'True', reason: 'Synced', message, observedGeneration: input.generation }, input.now);
  return {
    observedGeneration: input.generation,
    conditions,
    lastSyncTime: input.now.toISOString(),
    objects: objectStatuses(input.fetched),
    secrets: secretStatuses(input.macKey, input.namespace, input.secrets, input.macs),
    // What the next sync prunes when the spec drops one; absent while there never were any.
    configMaps: (input.configMaps ?? []).length > 0 || (previous?.configMaps ?? []).length > 0 ? (input.configMaps ?? []).map((c) => ({ name: c.name })) : undefined,
  };
}

/**
 * Status after a failure: both conditions False with the failure's reason and message; the last
 * good objects/secrets/lastSyncTime are kept (they describe the Secrets that are still in place).
 * `Throttled` (kvsync waiting on a vault's request budget or Retry-After) is not a fault of the
 * KeyVaultSync: a `Ready=True` stays True (its Secrets are in place) and only `Synced` says Throttled.
 */
export function failureStatus(previous: KeyVaultSyncStatus | undefined, input: { generation: number | undefined; now: Date; reason: string; message: string }): StatusPatch {
  let conditions = setCondition(previous?.conditions, { type: SYNCED, status: 'False', reason: input.reason, message: input.message, observedGeneration: input.generation }, input.now);
  const keepReady = input.reason === 'Throttled' && findCondition(previous?.conditions, READY)?.status === 'True';
  if (!keepReady) conditions = setCondition(conditions, { type: READY, status: 'False', reason: input.reason, message: input.message, observedGeneration: input.generation }, input.now);
  return { observedGeneration: input.generation, conditions };
}

/**
 * How old `lastSyncTime` may grow while nothing else in the status changes: a refresh that finds
 * everything as it was writes no status (freshness is the `kvsync_last_sync_timestamp_seconds` metric),
 * and `lastSyncTime` alone is rewritten only after this long, times the KeyVaultSync's phase.
 */
export const LAST_SYNC_TIME_REFRESH_MS = 2 * 3_600_000;

/**
 * A fixed fraction in [0.5, 1) per KeyVaultSync key: KeyVaultSyncs created together rewrite their
 * `lastSyncTime` spread over half the refresh period, not in one burst, and keep that spread.
 */
export function lastSyncTimePhase(key: string): number {
  return 0.5 + createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 33;
}

/**
 * Whether `next` must be written over `previous`: anything but `lastSyncTime` differs, or `next`
 * moves a `lastSyncTime` that is missing or at least `refreshAfterMs` old.
 */
export function statusWriteNeeded(previous: KeyVaultSyncStatus | undefined, next: StatusPatch, now: Date, refreshAfterMs: number): boolean {
  if (previous === undefined) return true;
  const { lastSyncTime, ...rest } = next;
  for (const [field, value] of Object.entries(rest)) {
    if (canonical(value) !== canonical((previous as Record<string, unknown>)[field])) return true;
  }
  if (lastSyncTime === undefined) return false;
  const last = previous.lastSyncTime === undefined ? NaN : Date.parse(previous.lastSyncTime);
  return !(now.getTime() - last < refreshAfterMs);
}

/** JSON with object keys sorted and undefined members dropped: equal values, equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v)) ?? 'undefined';
}

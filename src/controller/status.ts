/**
 * Builds the KeyVaultSync status the reconciler writes through the status subresource. Pure
 * functions: given the previous status and what happened, the next status (unit-tested).
 */
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
}

export function objectStatuses(fetched: readonly PipelineFetchedObject[]): ObjectStatus[] {
  return fetched.filter((f) => (f.historyIndex ?? 0) === 0).map((f) => {
    const s: ObjectStatus = { name: f.object.outputName, version: f.version };
    if (f.contentType !== undefined) s.contentType = f.contentType;
    if (f.expiresOn !== undefined) s.expiresAt = f.expiresOn.toISOString();
    if (f.updatedOn !== undefined) s.updated = f.updatedOn.toISOString();
    return s;
  });
}

export function secretStatuses(macKey: Buffer, namespace: string, secrets: readonly DesiredSecret[]): SecretStatus[] {
  return secrets.map((s) => ({ name: s.name, dataMAC: dataMac(macKey, { namespace, name: s.name, type: s.type }, s.data) }));
}

/** Status after a successful sync: both conditions True, per-object and per-Secret state. */
export function successStatus(
  previous: KeyVaultSyncStatus | undefined,
  input: { generation: number | undefined; now: Date; namespace: string; fetched: readonly PipelineFetchedObject[]; secrets: readonly DesiredSecret[]; macKey: Buffer; changed: string[] },
): StatusPatch {
  const summary = input.changed.length > 0 ? `wrote ${input.changed.join(', ')}` : 'all outputs up to date';
  const message = `synced ${input.fetched.length} object(s) into ${input.secrets.length} Secret(s); ${summary}`;
  let conditions = setCondition(previous?.conditions, { type: SYNCED, status: 'True', reason: 'Synced', message, observedGeneration: input.generation }, input.now);
  conditions = setCondition(conditions, { type: READY, status: 'True', reason: 'Synced', message, observedGeneration: input.generation }, input.now);
  return {
    observedGeneration: input.generation,
    conditions,
    lastSyncTime: input.now.toISOString(),
    objects: objectStatuses(input.fetched),
    secrets: secretStatuses(input.macKey, input.namespace, input.secrets),
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

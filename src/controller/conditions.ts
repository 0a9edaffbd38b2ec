/**
 * metav1.Condition handling: setting a condition keeps `lastTransitionTime` unless the status flips,
 * as `meta.SetStatusCondition` does in apimachinery.
 */

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** Condition messages are capped by the CRD schema (metav1.Condition allows 32768). */
const MAX_MESSAGE = 32_768;

/**
 * Returns a new list with `input` set: a new condition gets `now` as transition time; an existing
 * one keeps its transition time unless its status changes. Other conditions are kept in order.
 */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, now: Date): Condition[] {
  const list = [...(conditions ?? [])];
  const message = input.message.length > MAX_MESSAGE ? `${input.message.slice(0, MAX_MESSAGE - 1)}…` : input.message;
  const index = list.findIndex((c) => c.type === input.type);
  const existing = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = existing !== undefined && existing.status === input.status ? existing.lastTransitionTime : now.toISOString();
  const next: Condition = { ...input, message, lastTransitionTime };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

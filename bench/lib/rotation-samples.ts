/**
 * Rotation latency as a user of a Secret sees it. A rotation sets a new version of one object; every Secret
 * of every sync that uses the object should then hold the new value. One sample is one (rotation, Secret)
 * pair: the time from `setSecret` sent until a watch sees the new value in that Secret, or missed when it is
 * not seen within the timeout. A rotation is complete when all its Secrets hold the new value. Missed pairs
 * count as slower than every seen one, so a controller that cannot keep up shows misses, not a flattering
 * median of the few pairs it happened to serve.
 */
import type { KvsPlan } from './kube.ts';
import { percentile } from './stats.ts';

/** The Secrets that should take one rotated object's new value: one per sync using it. */
export interface RotationTarget {
  object: string;
  secrets: { sync: string; secretName: string }[];
}

/** One (rotation, Secret) pair: its latency in ms, or missed (not seen within the timeout). */
export type PairSample = { object: string; sync: string; latencyMs: number } | { object: string; sync: string; missed: true };

/** One rotation's pairs, as recorded in the raw results. */
export interface RotationSamples {
  object: string;
  /** When the rotation started, ms after the first rotation's window opened. */
  startMs: number;
  pairs: PairSample[];
}

/** Every rotated object with every Secret of every sync that uses it (an object no sync uses has no target). */
export function rotationTargets(plans: readonly KvsPlan[], objects: readonly string[]): RotationTarget[] {
  return objects.flatMap((object) => {
    const secrets = plans.filter((p) => p.objects.includes(object)).map((p) => ({ sync: p.name, secretName: p.secretName }));
    return secrets.length === 0 ? [] : [{ object, secrets }];
  });
}

/** One rotation's pairs from the latencies seen per Secret of `target` (in its order; undefined: missed). */
export function pairSamples(target: RotationTarget, latencies: readonly (number | undefined)[]): PairSample[] {
  const { object } = target;
  return target.secrets.map(({ sync }, i) => {
    const latencyMs = latencies[i];
    return latencyMs === undefined ? { object, sync, missed: true } : { object, sync, latencyMs };
  });
}

/** A pair's latency: Infinity when missed. */
const pairLatency = (p: PairSample): number => ('missed' in p ? Infinity : p.latencyMs);

/** Every pair's latency over all rotations, missed pairs as Infinity. */
export function pairLatencies(rotations: readonly RotationSamples[]): number[] {
  return rotations.flatMap((r) => r.pairs.map(pairLatency));
}

/** Pairs not seen within the timeout. */
export function missedPairs(rotations: readonly RotationSamples[]): number {
  return rotations.reduce((n, r) => n + r.pairs.filter((p) => 'missed' in p).length, 0);
}

/** Per rotation, the time until all its Secrets held the new value: its slowest pair (Infinity when one was missed). */
export function completeTimes(rotations: readonly RotationSamples[]): number[] {
  return rotations.map((r) => Math.max(...r.pairs.map(pairLatency)));
}

/** A percentile (nearest rank) of the pairs' latencies, missed pairs as Infinity; NaN when there are none (not measured). */
export function latencyPercentile(rotations: readonly RotationSamples[], p: number): number {
  return percentile(pairLatencies(rotations), p) ?? NaN;
}

/** A percentile (nearest rank) of the rotations' complete times, incomplete ones as Infinity; NaN when there are none. */
export function completePercentile(rotations: readonly RotationSamples[], p: number): number {
  return percentile(completeTimes(rotations), p) ?? NaN;
}

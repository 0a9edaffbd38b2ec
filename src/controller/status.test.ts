import { describe, expect, it } from 'vitest';
import type { KeyVaultSyncStatus } from '../api/index.ts';
import { LAST_SYNC_TIME_REFRESH_MS, lastSyncTimePhase, statusWriteNeeded, type StatusPatch } from './status.ts';

const at = (iso: string): Date => new Date(iso);
const previous: KeyVaultSyncStatus = {
  observedGeneration: 2,
  conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'synced 1 object(s) into 1 Secret(s)', lastTransitionTime: '2026-06-01T00:00:00Z', observedGeneration: 2 }],
  lastSyncTime: '2026-06-01T00:00:00.000Z',
  objects: [{ name: 'db', version: 'v1', updated: '2026-05-01T00:00:00.000Z' }],
  secrets: [{ name: 'web', dataMAC: 'hmac-sha256-v2:aa' }],
};
/** The same status as the apiserver returns it: other key order. */
const next = (change: Partial<StatusPatch> = {}): StatusPatch => ({
  secrets: [{ dataMAC: 'hmac-sha256-v2:aa', name: 'web' }],
  objects: [{ updated: '2026-05-01T00:00:00.000Z', version: 'v1', name: 'db' }],
  lastSyncTime: '2026-06-01T00:20:00.000Z',
  conditions: [{ observedGeneration: 2, lastTransitionTime: '2026-06-01T00:00:00Z', message: 'synced 1 object(s) into 1 Secret(s)', reason: 'Synced', status: 'True', type: 'Ready' }],
  observedGeneration: 2,
  ...change,
});

describe('statusWriteNeeded', () => {
  it('skips a status that would only move lastSyncTime, until lastSyncTime is refreshAfterMs old', () => {
    expect(statusWriteNeeded(previous, next(), at('2026-06-01T00:20:00Z'), 3_600_000)).toBe(false);
    expect(statusWriteNeeded(previous, next(), at('2026-06-01T00:59:59Z'), 3_600_000)).toBe(false);
    expect(statusWriteNeeded(previous, next(), at('2026-06-01T01:00:00Z'), 3_600_000)).toBe(true);
  });

  it('writes any other change, a first status, and a failure that differs', () => {
    const now = at('2026-06-01T00:20:00Z');
    expect(statusWriteNeeded(undefined, next(), now, 3_600_000)).toBe(true);
    expect(statusWriteNeeded({ ...previous, lastSyncTime: undefined }, next(), now, 3_600_000)).toBe(true);
    expect(statusWriteNeeded(previous, next({ objects: [{ name: 'db', version: 'v2' }] }), now, 3_600_000)).toBe(true);
    expect(statusWriteNeeded(previous, next({ secrets: [{ name: 'web', dataMAC: 'hmac-sha256-v2:bb' }] }), now, 3_600_000)).toBe(true);
    expect(statusWriteNeeded(previous, next({ observedGeneration: 3 }), now, 3_600_000)).toBe(true);
    const failed: StatusPatch = { observedGeneration: 2, conditions: [{ ...previous.conditions![0]!, status: 'False', reason: 'ObjectNotFound' }] };
    expect(statusWriteNeeded(previous, failed, now, 3_600_000)).toBe(true);
    // The same failure again (a retry) writes nothing.
    expect(statusWriteNeeded({ ...previous, ...failed }, failed, now, 3_600_000)).toBe(false);
  });
});

describe('lastSyncTimePhase', () => {
  it('is fixed per key and spreads keys over [0.5, 1)', () => {
    const phases = Array.from({ length: 1000 }, (_, i) => lastSyncTimePhase(`ns/sync-${i}`));
    expect(lastSyncTimePhase('ns/sync-1')).toBe(phases[1]);
    expect(Math.min(...phases)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...phases)).toBeLessThan(1);
    // Each tenth of the range holds about a tenth of the keys: no burst when many were created at once.
    for (let d = 0; d < 10; d++) {
      const n = phases.filter((p) => p >= 0.5 + d * 0.05 && p < 0.55 + d * 0.05).length;
      expect(n).toBeGreaterThan(60);
      expect(n).toBeLessThan(140);
    }
    expect(LAST_SYNC_TIME_REFRESH_MS * 0.5).toBe(3_600_000);
  });
});

import { describe, expect, it } from 'vitest';
import { setCondition } from './conditions.ts';

const t1 = new Date('2026-01-01T00:00:00Z');
const t2 = new Date('2026-01-01T01:00:00Z');

describe('setCondition', () => {
  it('adds a new condition with the current time as transition time', () => {
    const out = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' }, t1);
    expect(out).toEqual([{ type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: t1.toISOString() }]);
  });

  it('keeps the transition time when the status does not change, even if reason or message do', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'ObjectNotFound', message: 'a' }, t1);
    const second = setCondition(first, { type: 'Ready', status: 'False', reason: 'VaultAccessDenied', message: 'b' }, t2);
    expect(second[0]).toMatchObject({ reason: 'VaultAccessDenied', message: 'b', lastTransitionTime: t1.toISOString() });
  });

  it('moves the transition time when the status flips, and leaves other conditions alone', () => {
    let list = setCondition(undefined, { type: 'Synced', status: 'True', reason: 'Synced', message: '' }, t1);
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Synced', message: '' }, t1);
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'Throttled', message: 'x' }, t2);
    expect(list.map((c) => [c.type, c.status, c.lastTransitionTime])).toEqual([
      ['Synced', 'True', t1.toISOString()],
      ['Ready', 'False', t2.toISOString()],
    ]);
  });
});

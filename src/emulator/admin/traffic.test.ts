import { describe, expect, it } from 'vitest';
import { FaultSpecError, parseFaultSpec, TrafficControl } from './traffic.ts';

describe('traffic control', () => {
  it('throttles per vault in 10-second windows with a Retry-After until the window ends', () => {
    let now = 1_000_000;
    const t = new TrafficControl(() => now);
    t.setLimit('kv', 2);
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
    now += 3000;
    const d = t.decide('kv', 'getSecret');
    expect(d).toMatchObject({ action: 'reject', status: 429, code: 'Throttled', retryAfterSeconds: 7 });
    expect(t.decide('other', 'getSecret').action).toBe('pass');
    now += 7000;
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
  });

  it('applies faults by vault and operation, for a count or a duration; latency adds up', () => {
    let now = 0;
    const t = new TrafficControl(() => now);
    t.addFault(parseFaultSpec({ vault: 'kv', operation: 'getSecret', status: 503, count: 1 }, now));
    t.addFault(parseFaultSpec({ operation: 'listSecrets', latencyMs: 200, durationSeconds: 5 }, now));
    expect(t.decide('kv', 'setSecret').action).toBe('pass');
    expect(t.decide('kv', 'getSecret')).toMatchObject({ action: 'reject', status: 503, retryAfterSeconds: 1 });
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
    expect(t.decide('kv', 'listSecrets')).toEqual({ action: 'pass', delayMs: 200 });
    now += 5001;
    expect(t.decide('kv', 'listSecrets')).toEqual({ action: 'pass', delayMs: 0 });
    t.addFault(parseFaultSpec({ drop: true, count: 1 }, now));
    expect(t.decide('any', 'getKey').action).toBe('drop');
    t.addFault(parseFaultSpec({ status: 500, count: 5 }, now));
    t.clearFaults();
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
  });

  it('rejects nonsense fault specs', () => {
    expect(() => parseFaultSpec({ status: 200 }, 0)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec({ kind: 'latency' }, 0)).toThrow(/latencyMs/);
    expect(() => parseFaultSpec('x', 0)).toThrow(/JSON object/);
  });
});

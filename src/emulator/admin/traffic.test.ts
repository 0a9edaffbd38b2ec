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
    t.addFault(parseFaultSpec({ vault: 'kv', status: 500, count: 5 }, now));
    t.addFault(parseFaultSpec({ vault: 'other', status: 500, count: 5 }, now));
    t.addFault(parseFaultSpec({ operation: 'token', status: 503, count: 5 }, now));
    t.clearFaults({ vault: 'KV' });
    expect(t.faults().map((f) => f.vault)).toEqual(['other', '*']);
    t.clearFaults({ operation: 'token' });
    expect(t.faults().map((f) => f.vault)).toEqual(['other']);
    t.clearFaults();
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
  });

  it('resets connections, cuts answers off and relabels them, by flag or by kind', () => {
    const t = new TrafficControl(() => 0);
    t.addFault(parseFaultSpec({ operation: 'getSecret', reset: true }, 0));
    t.addFault(parseFaultSpec({ operation: 'getSecret', truncate: true }, 0));
    t.addFault(parseFaultSpec({ operation: 'getSecret', contentType: 'text/html' }, 0));
    t.addFault(parseFaultSpec({ operation: 'getSecret', kind: 'contentType', contentType: 'text/plain', count: 1 }, 0));
    expect(t.decide('kv', 'getSecret')).toEqual({ action: 'reset', delayMs: 0 });
    expect(t.decide('kv', 'getSecret')).toEqual({ action: 'truncate', delayMs: 0 });
    expect(t.decide('kv', 'getSecret')).toEqual({ action: 'contentType', contentType: 'text/html', delayMs: 0 });
    expect(t.decide('kv', 'getSecret')).toEqual({ action: 'contentType', contentType: 'text/plain', delayMs: 0 });
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
  });

  it('reaches the token endpoints only with faults that name their operation', () => {
    const t = new TrafficControl(() => 0);
    t.addFault(parseFaultSpec({ status: 503, durationSeconds: 60 }, 0));
    expect(t.decide('', 'token').action).toBe('pass');
    expect(t.decide('', 'imdsToken').action).toBe('pass');
    expect(t.decide('kv', 'getSecret')).toMatchObject({ action: 'reject', status: 503 });
    t.clearFaults();
    t.addFault(parseFaultSpec({ operation: 'token', status: 503, durationSeconds: 60 }, 0));
    t.addFault(parseFaultSpec({ operation: 'imdsToken', drop: true, durationSeconds: 60 }, 0));
    expect(t.decide('', 'token')).toMatchObject({ action: 'reject', status: 503, retryAfterSeconds: 1 });
    expect(t.decide('', 'imdsToken').action).toBe('drop');
    expect(t.decide('kv', 'getSecret').action).toBe('pass');
  });

  it('rejects nonsense fault specs', () => {
    expect(() => parseFaultSpec({ status: 200 }, 0)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec({ kind: 'latency' }, 0)).toThrow(/latencyMs/);
    expect(() => parseFaultSpec({ kind: 'contentType' }, 0)).toThrow(/contentType is required/);
    expect(() => parseFaultSpec({ kind: 'melt' }, 0)).toThrow(/kind must be one of/);
    expect(() => parseFaultSpec('x', 0)).toThrow(/JSON object/);
  });
});

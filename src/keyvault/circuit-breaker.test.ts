import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.ts';

function breaker(): { b: CircuitBreaker; clock: { t: number }; changes: CircuitState[] } {
  const clock = { t: 0 };
  const changes: CircuitState[] = [];
  const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, maxCooldownMs: 4000, probeTimeoutMs: 10_000, now: () => clock.t, onStateChange: (s) => changes.push(s) });
  return { b, clock, changes };
}

describe('CircuitBreaker', () => {
  it('opens after N outage failures in a row; a success in between resets the count', () => {
    const { b } = breaker();
    b.failed(false, 'HTTP 503');
    b.failed(false, 'HTTP 503');
    b.succeeded(false);
    b.failed(false, 'HTTP 503');
    b.failed(false, 'HTTP 503');
    expect(b.state).toBe('closed');
    b.failed(false, 'ECONNRESET');
    expect(b.state).toBe('open');
    expect(b.lastFailure).toBe('ECONNRESET');
  });

  it('fails fast while open, then lets exactly one probe through', () => {
    const { b, clock, changes } = breaker();
    for (let i = 0; i < 3; i++) b.failed(false, 'HTTP 500');
    expect(b.refuses()).toBe(true);
    expect(b.admit()).toEqual({ allowed: false, retryAfterMs: 1000 });
    clock.t = 1000;
    expect(b.state).toBe('half-open');
    expect(b.refuses()).toBe(false);
    expect(b.admit()).toEqual({ allowed: true, probe: true });
    expect(b.refuses()).toBe(true);
    // Refused while the probe is in flight: try again shortly, the probe answers soon.
    expect(b.admit()).toEqual({ allowed: false, retryAfterMs: 1000 });
    b.succeeded(true);
    expect(b.state).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'closed']);
  });

  it('re-opens on a failed probe with the cooldown doubled, capped', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failed(false, 'HTTP 502');
    for (const cooldown of [2000, 4000, 4000]) {
      clock.t += 5000;
      const probe = b.admit();
      expect(probe).toEqual({ allowed: true, probe: true });
      b.failed(true, 'HTTP 502');
      expect(b.state).toBe('open');
      expect(b.retryAfterMs()).toBe(cooldown);
    }
    clock.t += 4000;
    b.admit();
    b.succeeded(true);
    // Closed again: the cooldown starts over.
    for (let i = 0; i < 3; i++) b.failed(false, 'HTTP 502');
    expect(b.retryAfterMs()).toBe(1000);
  });

  it('ignores answers of requests sent before it opened, and frees the slot of a released or lost probe', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failed(false, 'HTTP 503');
    b.succeeded(false);
    b.failed(false, 'HTTP 503');
    expect(b.state).toBe('open');
    clock.t = 1000;
    expect(b.admit()).toMatchObject({ allowed: true, probe: true });
    b.released(true);
    expect(b.admit()).toMatchObject({ allowed: true, probe: true });
    // That probe never answers: after the probe timeout another one may go.
    clock.t += 10_000;
    expect(b.admit()).toMatchObject({ allowed: true, probe: true });
  });
});

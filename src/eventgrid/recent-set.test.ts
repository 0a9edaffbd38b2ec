import { describe, expect, it } from 'vitest';
import { RecentSet } from './recent-set.ts';

describe('RecentSet', () => {
  it('remembers keys for the TTL and forgets them after', () => {
    let now = 0;
    const s = new RecentSet({ ttlMs: 1000, now: () => now });
    s.add('a');
    now = 999;
    expect(s.has('a')).toBe(true);
    now = 1000;
    expect(s.has('a')).toBe(false);
    expect(s.has('b')).toBe(false);
  });

  it('drops the oldest beyond the size bound', () => {
    const s = new RecentSet({ maxSize: 2 });
    s.add('a');
    s.add('b');
    s.add('c');
    expect([s.has('a'), s.has('b'), s.has('c'), s.size]).toEqual([false, true, true, 2]);
  });
});

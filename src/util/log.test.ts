import { describe, expect, it } from 'vitest';
import { createLogger, formatLine } from './log.ts';

function sink(isTTY: boolean): { lines: string[]; isTTY: boolean; write(line: string): void } {
  const lines: string[] = [];
  return { lines, isTTY, write: (line) => void lines.push(line) };
}

describe('createLogger', () => {
  it('auto: readable lines on a terminal', () => {
    const out = sink(true);
    createLogger({ name: 'kvsync-mount', level: 'info', destination: out }).warn({ keyVaultSync: 'shop/shop', reasons: ['Throttled: wait'] }, 'sync failed');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\d\d:\d\d:\d\d WARN {2}kvsync-mount: sync failed keyVaultSync=shop\/shop reasons=\["Throttled: wait"\]\n$/);
  });

  it('auto: JSON lines when the destination is not a terminal', () => {
    const out = sink(false);
    createLogger({ name: 'kvsync-controller', level: 'info', destination: out }).info({ generation: 2 }, 'synced');
    expect(JSON.parse(out.lines[0] ?? '')).toMatchObject({ level: 30, name: 'kvsync-controller', msg: 'synced', generation: 2 });
  });

  it('the flag wins over the terminal check, both ways', () => {
    const tty = sink(true);
    createLogger({ name: 'n', level: 'info', format: 'json', destination: tty }).info('x');
    expect(JSON.parse(tty.lines[0] ?? '')).toMatchObject({ msg: 'x' });
    const pipe = sink(false);
    createLogger({ name: 'n', level: 'info', format: 'text', destination: pipe }).error({ err: { name: 'ApiException', code: 500 } }, 'watch failed; restarting');
    expect(pipe.lines[0]).toMatch(/ ERROR n: watch failed; restarting err=\{"name":"ApiException","code":500\}\n$/);
  });

  it('the level still filters', () => {
    const out = sink(true);
    const log = createLogger({ name: 'n', level: 'warn', destination: out });
    log.info('hidden');
    log.debug('hidden');
    expect(out.lines).toEqual([]);
  });
});

describe('formatLine', () => {
  it('quotes values with spaces or quotes and keeps simple ones bare', () => {
    const line = formatLine(JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: 'h', msg: 'm', a: 'plain/value-1.2', b: 'two words', c: true, d: null }));
    expect(line).toBe('03:04:05 INFO  m a=plain/value-1.2 b="two words" c=true d=null\n');
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatLine('not json\n')).toBe('not json\n');
  });
});

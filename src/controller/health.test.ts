import { describe, expect, it } from 'vitest';
import { parseHostPort, startHealthServer } from './health.ts';

describe('health server', () => {
  it('parses host:port forms', () => {
    expect(parseHostPort('127.0.0.1:8081')).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseHostPort('[::1]:9')).toEqual({ host: '::1', port: 9 });
    expect(parseHostPort(':8081')).toEqual({ host: '0.0.0.0', port: 8081 });
    expect(() => parseHostPort('8081')).toThrow(RangeError);
  });

  it('answers /healthz always and /readyz once ready', async () => {
    let ready = false;
    const server = await startHealthServer('127.0.0.1:0', { ready: () => ready });
    try {
      expect((await fetch(`http://${server.address}/healthz`)).status).toBe(200);
      expect((await fetch(`http://${server.address}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`http://${server.address}/readyz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

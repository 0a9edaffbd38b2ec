import { type Logger, pino } from 'pino';
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { failureCondition } from '../api/condition-reasons.ts';
import { SyncError, toSyncError } from '../keyvault/errors.ts';
import { apiServerUnreachable, ControllerError, recordFailure, unexpectedErrorFacts } from './errors.ts';

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('apiServerUnreachable', () => {
  it("types undici's `fetch failed` with a refused connection as its cause, naming only the code", () => {
    const err = new TypeError('fetch failed', { cause: withCode('connect ECONNREFUSED 127.0.0.1:6443 secret-ish detail', 'ECONNREFUSED') });
    const typed = apiServerUnreachable(err);
    expect(typed).toBeInstanceOf(ControllerError);
    const condition = failureCondition(typed);
    expect(condition).toMatchObject({ reason: 'ApiServerUnreachable', known: true });
    expect(condition.message).toContain('ECONNREFUSED');
    expect(condition.message).not.toContain('127.0.0.1');
    expect(condition.message).not.toContain('secret-ish');
  });

  it('types a reset socket directly on the error, and a cause two levels down', () => {
    expect(apiServerUnreachable(withCode('socket hang up', 'ECONNRESET'))?.reason).toBe('ApiServerUnreachable');
    const deep = new Error('outer', { cause: new TypeError('fetch failed', { cause: withCode('other side closed', 'UND_ERR_SOCKET') }) });
    expect(apiServerUnreachable(deep)?.reason).toBe('ApiServerUnreachable');
  });

  it("leaves kvsync's own errors, HTTP answers and unknown errors alone", () => {
    expect(apiServerUnreachable(Object.assign(new SyncError('VaultUnreachable', 'the vault did not answer'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(apiServerUnreachable(Object.assign(new Error('HTTP 500'), { code: 500 }))).toBeUndefined();
    expect(apiServerUnreachable(new TypeError('Cannot read properties of undefined'))).toBeUndefined();
    expect(apiServerUnreachable('ECONNREFUSED')).toBeUndefined();
  });
});

describe('apiServerUnreachable, undici without a cause code', () => {
  it("types undici's fetch failed and terminated themselves", () => {
    expect(apiServerUnreachable(new TypeError('fetch failed'))?.reason).toBe('ApiServerUnreachable');
    expect(apiServerUnreachable(new TypeError('terminated'))?.reason).toBe('ApiServerUnreachable');
  });
});

describe('unexpectedErrorFacts', () => {
  it('names the class, the cause and the first frame, never a message', () => {
    const err = new TypeError('value s3cr3t in here', { cause: Object.assign(new Error('more s3cr3t'), { code: 'E_SOMETHING' }) });
    const facts = unexpectedErrorFacts(err);
    expect(facts).toMatchObject({ errName: 'TypeError', causeName: 'Error', causeCode: 'E_SOMETHING' });
    expect(facts.at).toMatch(/errors\.test\.ts:\d+:\d+$/);
    expect(JSON.stringify(facts)).not.toContain('s3cr3t');
    expect(unexpectedErrorFacts('x')).toEqual({ errName: 'string' });
  });
});

describe('recordFailure', () => {
  function capture(): { log: Logger; lines: string[] } {
    const lines: string[] = [];
    return { log: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }), lines };
  }

  it('logs, and does not throw, when the apiserver cannot take the failure either', async () => {
    const { log, lines } = capture();
    await expect(recordFailure(() => Promise.reject(new TypeError('fetch failed', { cause: withCode('connect ECONNREFUSED 10.0.0.1:6443', 'ECONNREFUSED') })), log)).resolves.toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('could not record the failed sync');
    expect(lines[0]).toContain('ApiServerUnreachable');
    expect(lines[0]).not.toContain('10.0.0.1');
  });

  it('logs, and does not throw, when the apiserver answers 503 (shutting down or starting)', async () => {
    const { log, lines } = capture();
    const unavailable = new ApiException(503, 'HTTP 503', { message: 'apiserver is shutting down' }, {});
    await expect(recordFailure(() => Promise.reject(unavailable), log)).resolves.toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('could not record the failed sync');
    expect(lines[0]).toContain('"status":503');
    expect(lines[0]).not.toContain('shutting down');
  });

  it('throws any other failure of the write', async () => {
    const { log } = capture();
    const conflict = Object.assign(new Error('HTTP 409'), { code: 409 });
    await expect(recordFailure(() => Promise.reject(conflict), log)).rejects.toBe(conflict);
    const invalid = new ApiException(422, 'HTTP 422', {}, {});
    await expect(recordFailure(() => Promise.reject(invalid), log)).rejects.toBe(invalid);
  });
});

describe('one set of network codes for the apiserver and Key Vault', () => {
  it('types the same wire failures as unreachable on both sides', () => {
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'REQUEST_SEND_ERROR']) {
      expect(apiServerUnreachable(withCode('x', code))?.reason).toBe('ApiServerUnreachable');
      expect(toSyncError(withCode('x', code), { vault: 'kv' }).reason).toBe('VaultUnreachable');
    }
  });
});

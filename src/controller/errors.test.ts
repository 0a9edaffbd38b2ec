import { describe, expect, it } from 'vitest';
import { failureCondition } from '../api/condition-reasons.ts';
import { SyncError } from '../keyvault/errors.ts';
import { apiServerUnreachable, ControllerError, unexpectedErrorFacts } from './errors.ts';

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

import { describe, expect, it } from 'vitest';
import { abuseProtectionAnswer, validationAnswer } from './handshake.ts';

describe('handshakes', () => {
  it('echoes the validation code (Event Grid schema)', () => {
    const a = validationAnswer('512D38B6-C7B8-40C8-89FE-F46F9E9622B6');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ validationResponse: '512D38B6-C7B8-40C8-89FE-F46F9E9622B6' });
  });

  it('consents to the requesting origin (CloudEvents abuse protection), with the rate when asked', () => {
    expect(abuseProtectionAnswer('eventgrid.azure.net', undefined)).toEqual({ status: 200, headers: { 'WebHook-Allowed-Origin': 'eventgrid.azure.net', Allow: 'POST, OPTIONS' }, body: '' });
    expect(abuseProtectionAnswer('eventgrid.azure.net', '120').headers['WebHook-Allowed-Rate']).toBe('*');
  });

  it('refuses a missing or malformed origin', () => {
    expect(abuseProtectionAnswer(undefined, undefined).status).toBe(400);
    expect(abuseProtectionAnswer('', undefined).status).toBe(400);
    expect(abuseProtectionAnswer('evil.example\r\nX-Injected: 1', undefined).status).toBe(400);
  });
});

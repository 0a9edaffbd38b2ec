import { describe, expect, it } from 'vitest';
import { eventGridOptions } from './flags.ts';

describe('eventGridOptions', () => {
  it('is off without --eventgrid-addr and refuses stray flags', () => {
    expect(eventGridOptions({})).toBeUndefined();
    expect(() => eventGridOptions({ 'eventgrid-key-file': '/k' })).toThrow('--eventgrid-key-file needs --eventgrid-addr');
  });

  it('maps every flag', () => {
    expect(eventGridOptions({
      'eventgrid-addr': '0.0.0.0:8443', 'eventgrid-path': '/hooks/eg', 'eventgrid-cert-dir': '/tls', 'eventgrid-key-file': '/k',
      'eventgrid-audience': 'api://kvsync, 1b2c', 'eventgrid-tenant-id': 't', 'eventgrid-client-id': 'eg-app', 'eventgrid-pod': 'kvsync-7d9f-abcde',
    })).toEqual({ addr: '0.0.0.0:8443', path: '/hooks/eg', certDir: '/tls', keyFile: '/k', audiences: ['api://kvsync', '1b2c'], tenantId: 't', allowedClientIds: ['eg-app'], leaderPod: 'kvsync-7d9f-abcde' });
  });

  it('requires an authentication method and well-formed values', () => {
    expect(() => eventGridOptions({ 'eventgrid-addr': ':8443' })).toThrow(/needs --eventgrid-key-file/);
    expect(() => eventGridOptions({ 'eventgrid-addr': 'nope', 'eventgrid-key-file': '/k' })).toThrow(/host:port/);
    expect(() => eventGridOptions({ 'eventgrid-addr': ':8443', 'eventgrid-key-file': '/k', 'eventgrid-path': 'x y' })).toThrow(/not a URL path/);
    expect(() => eventGridOptions({ 'eventgrid-addr': ':8443', 'eventgrid-key-file': '/k', 'eventgrid-client-id': 'a' })).toThrow(/need --eventgrid-audience/);
    expect(() => eventGridOptions({ 'eventgrid-addr': ':8443', 'eventgrid-key-file': '/k', 'eventgrid-pod': 'Bad_Name' })).toThrow(/not a pod name/);
  });
});

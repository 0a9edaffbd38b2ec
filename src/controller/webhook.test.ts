import { describe, expect, it } from 'vitest';
import { webhookOptions } from './command.ts';
import { webhookNames } from './webhook.ts';

describe('kvsync controller webhook flags', () => {
  it('is off without --webhook-addr', () => {
    expect(webhookOptions({})).toBeUndefined();
  });

  it('refuses webhook flags without --webhook-addr', () => {
    expect(() => webhookOptions({ 'webhook-url': 'https://127.0.0.1:9443' })).toThrow('--webhook-url needs --webhook-addr');
    expect(() => webhookOptions({ 'webhook-cert-dir': '/certs' })).toThrow('--webhook-cert-dir needs --webhook-addr');
  });

  it('needs exactly one of --webhook-url and --webhook-service', () => {
    expect(() => webhookOptions({ 'webhook-addr': ':9443' })).toThrow('exactly one');
    expect(() => webhookOptions({ 'webhook-addr': ':9443', 'webhook-url': 'https://a:1', 'webhook-service': 'kvsync-webhook' })).toThrow('exactly one');
  });

  it('checks the address, the URL and the Service name', () => {
    expect(() => webhookOptions({ 'webhook-addr': '9443', 'webhook-service': 'kvsync-webhook' })).toThrow('host:port');
    expect(() => webhookOptions({ 'webhook-addr': ':9443', 'webhook-url': 'http://127.0.0.1:9443' })).toThrow('https://');
    expect(() => webhookOptions({ 'webhook-addr': ':9443', 'webhook-url': 'not a url' })).toThrow('not a URL');
    expect(() => webhookOptions({ 'webhook-addr': ':9443', 'webhook-service': 'Bad_Name' })).toThrow('not a Service name');
  });

  it('in a cluster (--webhook-service) needs the sidecar image: no unpublished default for injected pods', () => {
    expect(() => webhookOptions({ 'webhook-addr': ':9443', 'webhook-service': 'kvsync-webhook' })).toThrow("--webhook-service needs --webhook-sidecar-image IMAGE: this controller's own image");
  });

    it('maps the flags to the controller options', () => {
    expect(webhookOptions({ 'webhook-addr': '0.0.0.0:9443', 'webhook-service': 'kvsync-webhook', 'webhook-cert-dir': '/certs', 'webhook-sidecar-image': 'img:1' })).toEqual({
      addr: '0.0.0.0:9443',
      endpoint: { service: 'kvsync-webhook' },
      certDir: '/certs',
      sidecarImage: 'img:1',
    });
    expect(webhookOptions({ 'webhook-addr': '127.0.0.1:9443', 'webhook-url': 'https://127.0.0.1:9443/mutate-pods' })).toEqual({ addr: '127.0.0.1:9443', endpoint: { url: 'https://127.0.0.1:9443/mutate-pods' } });
  });
});

describe('webhook certificate names', () => {
  it('covers the URL host, as an IP address or a DNS name', () => {
    expect(webhookNames({ url: 'https://127.0.0.1:9443/mutate-pods' }, 'kvsync-system')).toEqual({ dnsNames: [], ipAddresses: ['127.0.0.1'] });
    expect(webhookNames({ url: 'https://[::1]:9443' }, 'kvsync-system')).toEqual({ dnsNames: [], ipAddresses: ['::1'] });
    expect(webhookNames({ url: 'https://host.docker.internal:9443' }, 'kvsync-system')).toEqual({ dnsNames: ['host.docker.internal'], ipAddresses: [] });
  });

  it('covers the Service DNS names', () => {
    expect(webhookNames({ service: 'kvsync-webhook' }, 'ops')).toEqual({ dnsNames: ['kvsync-webhook.ops.svc', 'kvsync-webhook.ops.svc.cluster.local'], ipAddresses: [] });
  });
});

import { describe, expect, it } from 'vitest';
import { EventGridRequestError } from './errors.ts';
import { CERTIFICATE_NEW_VERSION_CREATED, SECRET_NEW_VERSION_CREATED, keyVaultChangeOf, parseDelivery } from './schema.ts';
import type { NewVersionEventType, ReceivedEvent } from './schema.ts';

const TOPIC = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/gebakv';
const data = (name = 'nginx', version = 'aabbccddeeff00112233445566778899') => ({
  Id: `https://gebakv.vault.azure.net/certificates/${name}/${version}`,
  VaultName: 'gebakv',
  ObjectType: 'Certificate',
  ObjectName: name,
  Version: version,
  NBF: 1790000000,
  EXP: null,
});
const egEvent = (over: Record<string, unknown> = {}) => ({
  id: 'e1', topic: TOPIC, subject: 'nginx', eventType: CERTIFICATE_NEW_VERSION_CREATED, eventTime: '2026-11-24T20:40:53.1230000Z', data: data(), dataVersion: '1', metadataVersion: '1', ...over,
});
const cloudEvent = (over: Record<string, unknown> = {}) => ({ id: 'c1', source: TOPIC, specversion: '1.0', type: SECRET_NEW_VERSION_CREATED, subject: 'db', time: '2026-11-24T20:40:53Z', data: data('db'), ...over });

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof EventGridRequestError ? `${err.reason}/${err.status}` : 'other';
  }
  return undefined;
}

describe('parseDelivery', () => {
  it('parses an Event Grid schema batch', () => {
    const d = parseDelivery(JSON.stringify([egEvent(), egEvent({ id: 'e2', eventType: 'Microsoft.KeyVault.SecretExpired' })]), 'application/json; charset=utf-8');
    expect(d).toEqual({
      kind: 'events',
      schema: 'EventGridSchema',
      events: [
        { id: 'e1', type: CERTIFICATE_NEW_VERSION_CREATED, subject: 'nginx', data: data() },
        { id: 'e2', type: 'Microsoft.KeyVault.SecretExpired', subject: 'nginx', data: data() },
      ],
    });
  });

  it('parses a structured CloudEvent and a CloudEvents batch', () => {
    expect(parseDelivery(JSON.stringify(cloudEvent()), 'application/cloudevents+json; charset=utf-8')).toEqual({
      kind: 'events', schema: 'CloudEventSchemaV1_0', events: [{ id: 'c1', type: SECRET_NEW_VERSION_CREATED, subject: 'db', data: data('db') }],
    });
    const batch = parseDelivery(JSON.stringify([cloudEvent(), cloudEvent({ id: 'c2' })]), 'application/cloudevents-batch+json');
    expect(batch.kind === 'events' && batch.events.map((e) => e.id)).toEqual(['c1', 'c2']);
  });

  it('recognises the subscription validation event with its code and optional URL', () => {
    const v = egEvent({ eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', subject: '', data: { validationCode: 'CODE-1', validationUrl: 'https://rp.eventgrid.azure.net/validate?id=1' }, dataVersion: '2' });
    expect(parseDelivery(JSON.stringify([v]), 'application/json')).toEqual({ kind: 'validation', validationCode: 'CODE-1', validationUrl: 'https://rp.eventgrid.azure.net/validate?id=1' });
    expect(reason(() => parseDelivery(JSON.stringify([v, egEvent()]), 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery(JSON.stringify([{ ...v, data: {} }]), 'application/json'))).toBe('MalformedRequest/400');
  });

  it('refuses malformed bodies and other media types', () => {
    expect(reason(() => parseDelivery('{not json', 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery('[]', 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery('{"id":"x"}', 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery(JSON.stringify([egEvent({ id: 7 })]), 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery(JSON.stringify([egEvent({ eventType: undefined })]), 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery(JSON.stringify(cloudEvent({ specversion: '0.3' })), 'application/cloudevents+json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery(JSON.stringify([egEvent(), cloudEvent()]), 'application/json'))).toBe('MalformedRequest/400');
    expect(reason(() => parseDelivery(JSON.stringify([egEvent()]), 'text/plain'))).toBe('UnsupportedMediaType/415');
  });
});

describe('keyVaultChangeOf', () => {
  const ev = (d: unknown, type: NewVersionEventType = CERTIFICATE_NEW_VERSION_CREATED, subject?: string): ReceivedEvent & { type: NewVersionEventType } => ({ id: 'e1', type, subject, data: d });

  it('reads Key Vault data (PascalCase) and the vault origin from Id', () => {
    expect(keyVaultChangeOf(ev({ ...data(), Id: 'https://gebakv.vault.azure.net:8443/certificates/nginx/aabbccddeeff00112233445566778899' }))).toEqual({
      eventId: 'e1', type: CERTIFICATE_NEW_VERSION_CREATED, vaultName: 'gebakv', objectType: 'Certificate', objectName: 'nginx',
      version: 'aabbccddeeff00112233445566778899', vaultUrl: 'https://gebakv.vault.azure.net:8443',
    });
  });

  it('accepts camelCase, falls back to the subject for the name and lower-cases the vault', () => {
    const c = keyVaultChangeOf(ev({ vaultName: 'GebaKV', version: 'abc123' }, SECRET_NEW_VERSION_CREATED, 'db'));
    expect(c).toMatchObject({ vaultName: 'gebakv', objectType: 'Secret', objectName: 'db', version: 'abc123', vaultUrl: undefined });
  });

  it('refuses events without a valid vault, name or version', () => {
    expect(reason(() => keyVaultChangeOf(ev('x')))).toBe('MalformedRequest/400');
    expect(reason(() => keyVaultChangeOf(ev({ ...data(), VaultName: 'a/b' })))).toBe('MalformedRequest/400');
    expect(reason(() => keyVaultChangeOf(ev({ ...data(), ObjectName: '../x' })))).toBe('MalformedRequest/400');
    expect(reason(() => keyVaultChangeOf(ev({ ...data(), Version: undefined })))).toBe('MalformedRequest/400');
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Clock } from '../clock.ts';
import { startServer } from '../identity/testing/support.ts';
import type { TestServer } from '../identity/testing/support.ts';
import { EventGridError, EventGridPublisher, createEventGridAdminHandler } from './publisher.ts';
import type { KeyVaultEvent } from './publisher.ts';
import { WebhookReceiver } from './testing-receiver.ts';

const secretEvent: KeyVaultEvent = {
  type: 'Microsoft.KeyVault.SecretNewVersionCreated',
  vaultName: 'shop',
  vaultUrl: 'https://shop.vault.azure.net:8443',
  objectType: 'Secret',
  objectName: 'db-password',
  version: '0123456789abcdef0123456789abcdef',
};
const fast = { maxDeliveryAttempts: 3, initialDelayMs: 20, maxDelayMs: 50 };

describe('EventGridPublisher', () => {
  let receiver: WebhookReceiver;
  let publisher: EventGridPublisher;
  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    publisher = new EventGridPublisher({ clock: new Clock(), trustedCaPems: [], deliveryTimeoutMs: 2000 });
  });
  afterEach(async () => {
    await publisher.close();
    await receiver.close();
  });

  it('validates an Event Grid schema subscription with the handshake, then delivers the Key Vault payload', async () => {
    const view = await publisher.createSubscription({ name: 'kv-events', endpointUrl: `${receiver.url}?code=k3y`, sharedKey: 'shared' });
    expect(view).toMatchObject({ name: 'kv-events', eventDeliverySchema: 'EventGridSchema', provisioningState: 'Succeeded', hasSharedKey: true });
    expect(view.endpointUrl).not.toContain('k3y');
    const [handshake] = receiver.requests;
    expect(handshake?.headers['aeg-event-type']).toBe('SubscriptionValidation');
    expect(handshake?.path).toBe('/hook?code=k3y');
    const [validation] = JSON.parse(handshake?.body ?? '[]') as [Record<string, unknown>];
    expect(validation).toMatchObject({ eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent' });
    expect((validation.data as { validationCode?: unknown }).validationCode).toMatch(/^[0-9A-F-]{36}$/);

    publisher.publish({ ...secretEvent, exp: 1900000000 });
    await receiver.waitFor(() => receiver.notifications().length === 1);
    const delivery = receiver.notifications()[0];
    expect(delivery?.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8', 'aeg-event-type': 'Notification', 'aeg-subscription-name': 'KV-EVENTS',
      'aeg-delivery-count': '0', 'aeg-data-version': '1', 'aeg-metadata-version': '1', 'aeg-sas-key': 'shared',
    });
    const events = JSON.parse(delivery?.body ?? '') as unknown[];
    expect(events).toHaveLength(1);
    const event = events[0] as Record<string, unknown>;
    expect(Object.keys(event).sort()).toEqual(['data', 'dataVersion', 'eventTime', 'eventType', 'id', 'metadataVersion', 'subject', 'topic']);
    expect(event).toMatchObject({
      topic: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/kvsync-emulator/providers/Microsoft.KeyVault/vaults/shop',
      subject: 'db-password',
      eventType: 'Microsoft.KeyVault.SecretNewVersionCreated',
      dataVersion: '1',
      metadataVersion: '1',
      data: {
        Id: 'https://shop.vault.azure.net:8443/secrets/db-password/0123456789abcdef0123456789abcdef',
        VaultName: 'shop', ObjectType: 'Secret', ObjectName: 'db-password', Version: '0123456789abcdef0123456789abcdef',
        NBF: null, EXP: 1900000000,
      },
    });
    expect(event.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
  });

  it('refuses a subscription whose endpoint does not echo the validation code', async () => {
    receiver.policy = () => ({ status: 200, body: '{"validationResponse":"wrong"}' });
    await expect(publisher.createSubscription({ name: 'bad-hook', endpointUrl: receiver.url })).rejects.toMatchObject({
      status: 400, reason: 'WebhookValidationHandshakeFailed',
    });
    expect(publisher.listSubscriptions()).toEqual([]);
  });

  it('uses the CloudEvents OPTIONS handshake and delivers single structured CloudEvents', async () => {
    await publisher.createSubscription({ name: 'cloud', endpointUrl: receiver.url, eventDeliverySchema: 'CloudEventSchemaV1_0' });
    expect(receiver.requests[0]).toMatchObject({ method: 'OPTIONS', headers: { 'webhook-request-origin': 'eventgrid.azure.net' } });
    publisher.publish({ ...secretEvent, type: 'Microsoft.KeyVault.CertificateNewVersionCreated', objectType: 'Certificate', objectName: 'tls' });
    await receiver.waitFor(() => receiver.notifications().length === 1);
    const delivery = receiver.notifications()[0];
    expect(delivery?.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    const ce = JSON.parse(delivery?.body ?? '') as Record<string, unknown>;
    expect(Object.keys(ce).sort()).toEqual(['data', 'id', 'source', 'specversion', 'subject', 'time', 'type']);
    expect(ce.source).toMatch(/\/providers\/Microsoft\.KeyVault\/vaults\/shop$/);
    expect(ce).toMatchObject({
      specversion: '1.0', type: 'Microsoft.KeyVault.CertificateNewVersionCreated', subject: 'tls',
      data: { Id: 'https://shop.vault.azure.net:8443/certificates/tls/0123456789abcdef0123456789abcdef', ObjectType: 'Certificate' },
    });
  });

  it('refuses a CloudEvents endpoint that does not allow the origin', async () => {
    receiver.policy = () => ({ status: 200 });
    await expect(publisher.createSubscription({ name: 'cloud-bad', endpointUrl: receiver.url, eventDeliverySchema: 'CloudEventSchemaV1_0' })).rejects.toBeInstanceOf(EventGridError);
  });

  it('retries a failed delivery with backoff and the same event id, counting deliveries', async () => {
    await publisher.createSubscription({ name: 'flaky', endpointUrl: receiver.url, retryPolicy: fast });
    let failures = 2;
    receiver.policy = () => (failures-- > 0 ? { status: 503 } : { status: 200 });
    publisher.publish(secretEvent);
    await receiver.waitFor(() => receiver.notifications().length === 3);
    await publisher.idle();
    const ids = receiver.notifications().map((r) => (JSON.parse(r.body) as [{ id: string }])[0].id);
    expect(new Set(ids).size).toBe(1);
    expect(receiver.notifications().map((r) => r.headers['aeg-delivery-count'])).toEqual(['0', '1', '2']);
    expect(publisher.deliveries().map((d) => [d.attempt, d.status, d.outcome])).toEqual([[1, 503, 'retrying'], [2, 503, 'retrying'], [3, 200, 'delivered']]);
  });

  it('gives up after maxDeliveryAttempts, and does not retry 400', async () => {
    await publisher.createSubscription({ name: 'down', endpointUrl: receiver.url, retryPolicy: fast });
    receiver.policy = () => ({ status: 500 });
    publisher.publish(secretEvent);
    await publisher.idle();
    expect(receiver.notifications()).toHaveLength(3);
    expect(publisher.deliveries().at(-1)).toMatchObject({ attempt: 3, outcome: 'dropped' });

    publisher.clearDeliveries();
    receiver.policy = () => ({ status: 400 });
    publisher.publish(secretEvent);
    await publisher.idle();
    expect(publisher.deliveries()).toEqual([expect.objectContaining({ attempt: 1, status: 400, outcome: 'dropped' })]);
  });

  it('filters by event type, vault and subject', async () => {
    await publisher.createSubscription({
      name: 'filtered', endpointUrl: receiver.url, vaults: ['shop'], subjectBeginsWith: 'db-',
      includedEventTypes: ['Microsoft.KeyVault.SecretNewVersionCreated'],
    });
    publisher.publish({ ...secretEvent, vaultName: 'other' });
    publisher.publish({ ...secretEvent, objectName: 'api-key' });
    publisher.publish({ ...secretEvent, type: 'Microsoft.KeyVault.SecretExpired' });
    publisher.publish(secretEvent);
    await publisher.idle();
    expect(receiver.notifications()).toHaveLength(1);
  });

  it('close() ends a loop waiting for a retry without waiting out its delay', async () => {
    // A retry an hour away: a close() that waited for it could not end within the test's timeout.
    await publisher.createSubscription({ name: 'slow-retry', endpointUrl: receiver.url, retryPolicy: { maxDeliveryAttempts: 30, initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 } });
    receiver.policy = () => ({ status: 503 });
    publisher.publish(secretEvent);
    // The attempt is recorded right before the loop starts waiting for its retry.
    await receiver.waitFor(() => publisher.deliveries().length === 1);
    await publisher.close();
    expect(publisher.deliveries()).toEqual([expect.objectContaining({ attempt: 1, status: 503, outcome: 'retrying' })]);
    publisher.publish(secretEvent);
    await publisher.idle();
    expect(receiver.notifications()).toHaveLength(1);
  });

  it('rejects invalid subscription input naming the field', async () => {
    await expect(publisher.createSubscription({ name: 'x', endpointUrl: receiver.url })).rejects.toThrow(/'name'/);
    await expect(publisher.createSubscription({ name: 'abc', endpointUrl: 'ftp://x' })).rejects.toThrow(/'endpointUrl'/);
    await expect(publisher.createSubscription({ name: 'abc', endpointUrl: receiver.url, includedEventTypes: ['Nope'] })).rejects.toThrow(/includedEventTypes/);
    await expect(publisher.createSubscription({ name: 'abc', endpointUrl: receiver.url, retryPolicy: { maxDeliveryAttempts: 0 } })).rejects.toThrow(/maxDeliveryAttempts/);
  });
});

describe('Event Grid admin routes', () => {
  let receiver: WebhookReceiver;
  let publisher: EventGridPublisher;
  let admin: TestServer;
  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    publisher = new EventGridPublisher({ clock: new Clock(), trustedCaPems: [] });
    admin = await startServer([createEventGridAdminHandler(publisher)]);
  });
  afterEach(async () => {
    await publisher.close();
    await admin.close();
    await receiver.close();
  });

  it('creates, lists, gets, publishes to and deletes subscriptions', async () => {
    const base = `${admin.url}/admin/eventgrid`;
    const created = await fetch(`${base}/subscriptions`, { method: 'POST', body: JSON.stringify({ name: 'hook-1', endpointUrl: receiver.url, sharedKey: 'k' }) });
    expect(created.status).toBe(201);
    expect(await created.text()).not.toContain('"k"');
    const list = (await (await fetch(`${base}/subscriptions`)).json()) as { value: { name: string }[] };
    expect(list.value.map((s) => s.name)).toEqual(['hook-1']);
    expect((await fetch(`${base}/subscriptions/hook-1`)).status).toBe(200);
    expect((await fetch(`${base}/subscriptions/nope`)).status).toBe(404);

    const published = await fetch(`${base}/events`, { method: 'POST', body: JSON.stringify(secretEvent) });
    expect(published.status).toBe(202);
    await receiver.waitFor(() => receiver.notifications().length === 1);
    await publisher.idle();
    const deliveries = (await (await fetch(`${base}/deliveries`)).json()) as { value: { outcome: string }[] };
    expect(deliveries.value).toEqual([expect.objectContaining({ subscription: 'hook-1', outcome: 'delivered' })]);

    expect((await fetch(`${base}/subscriptions/hook-1`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${base}/subscriptions/hook-1`, { method: 'DELETE' })).status).toBe(404);
  });

  it('answers bad input with Azure-style error bodies and leaves other paths alone', async () => {
    const base = `${admin.url}/admin/eventgrid`;
    const malformed = await fetch(`${base}/subscriptions`, { method: 'POST', body: '{' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'InvalidRequest' } });
    const badEvent = await fetch(`${base}/events`, { method: 'POST', body: JSON.stringify({ type: 'x' }) });
    expect(badEvent.status).toBe(400);
    expect((await fetch(`${admin.url}/admin/faults`)).status).toBe(404);
    expect(await (await fetch(`${admin.url}/admin/faults`)).json()).toEqual({ error: 'not found' });
  });
});

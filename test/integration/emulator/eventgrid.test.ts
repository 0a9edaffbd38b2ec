/**
 * Event Grid delivery over HTTPS, driven through the admin API as a user of the emulator would: a local
 * HTTPS receiver (its CA passed to the publisher) completes the validation handshake, rejects the first
 * delivery and receives the retried event with Key Vault's payload shape and the shared key header.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock } from '../../../src/emulator/clock.ts';
import { EventGridPublisher, createEventGridAdminHandler } from '../../../src/emulator/eventgrid/publisher.ts';
import type { DeliveryRecord, KeyVaultEvent } from '../../../src/emulator/eventgrid/publisher.ts';
import { WebhookReceiver, standardReceiverPolicy } from '../../../src/emulator/eventgrid/testing-receiver.ts';
import { makeTestTls, startServer } from '../../../src/emulator/identity/testing/support.ts';
import type { TestServer, TestTls } from '../../../src/emulator/identity/testing/support.ts';

/** One JSON request over HTTPS trusting `ca` (global fetch cannot take a per-request CA). */
function httpsJson(method: string, url: string, ca: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text === '' ? undefined : (JSON.parse(text) as unknown) });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('Event Grid publisher over HTTPS through the admin API', () => {
  let receiver: WebhookReceiver;
  let publisher: EventGridPublisher;
  let admin: TestServer;
  let adminTls: TestTls;

  beforeAll(async () => {
    const receiverTls = makeTestTls();
    receiver = await WebhookReceiver.start(receiverTls);
    publisher = new EventGridPublisher({ clock: new Clock(), trustedCaPems: [receiverTls.caPem], deliveryTimeoutMs: 5000 });
    adminTls = makeTestTls();
    admin = await startServer([createEventGridAdminHandler(publisher)], adminTls);
  });
  afterAll(async () => {
    await publisher.close();
    await admin.close();
    await receiver.close();
  });

  const adminCall = (method: string, path: string, body?: unknown) => httpsJson(method, `${admin.url}/admin/eventgrid${path}`, adminTls.caPem, body);

  it('handshakes, retries a failed delivery and delivers the Key Vault event', async () => {
    const created = await adminCall('POST', '/subscriptions', {
      name: 'operator-refresh',
      endpointUrl: `${receiver.url}?code=query-key`,
      includedEventTypes: ['Microsoft.KeyVault.SecretNewVersionCreated', 'Microsoft.KeyVault.CertificateNewVersionCreated'],
      sharedKey: 'delivery-key',
      retryPolicy: { maxDeliveryAttempts: 4, initialDelayMs: 100, maxDelayMs: 400 },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'operator-refresh', provisioningState: 'Succeeded', hasSharedKey: true });
    expect(receiver.requests[0]?.headers['aeg-event-type']).toBe('SubscriptionValidation');
    expect(receiver.requests[0]?.headers['aeg-sas-key']).toBe('delivery-key');

    let rejected = 0;
    receiver.policy = (r, i) => (r.headers['aeg-event-type'] === 'Notification' && rejected++ === 0 ? { status: 500 } : standardReceiverPolicy(r, i));
    const event: KeyVaultEvent = {
      type: 'Microsoft.KeyVault.CertificateNewVersionCreated',
      vaultName: 'gebakv',
      vaultUrl: 'https://gebakv.vault.azure.net:8443/',
      objectType: 'Certificate',
      objectName: 'nginx',
      version: 'aabbccddeeff00112233445566778899',
      nbf: 1790000000,
      exp: 1821536000,
    };
    expect((await adminCall('POST', '/events', event)).status).toBe(202);
    publisher.publish({ ...event, type: 'Microsoft.KeyVault.SecretExpired' }); // not subscribed
    await receiver.waitFor(() => receiver.notifications().length === 2);
    await publisher.idle();

    const [failed, delivered] = receiver.notifications();
    expect(failed?.headers['aeg-delivery-count']).toBe('0');
    expect(delivered?.headers['aeg-delivery-count']).toBe('1');
    expect(delivered?.headers['aeg-sas-key']).toBe('delivery-key');
    expect(delivered?.path).toBe('/hook?code=query-key');
    const [payload] = JSON.parse(delivered?.body ?? '[]') as [Record<string, unknown>];
    expect(payload).toMatchObject({
      topic: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/kvsync-emulator/providers/Microsoft.KeyVault/vaults/gebakv',
      subject: 'nginx',
      eventType: 'Microsoft.KeyVault.CertificateNewVersionCreated',
      dataVersion: '1',
      metadataVersion: '1',
      data: {
        Id: 'https://gebakv.vault.azure.net:8443/certificates/nginx/aabbccddeeff00112233445566778899',
        VaultName: 'gebakv', ObjectType: 'Certificate', ObjectName: 'nginx', Version: 'aabbccddeeff00112233445566778899',
        NBF: 1790000000, EXP: 1821536000,
      },
    });
    const log = ((await adminCall('GET', '/deliveries')).json as { value: DeliveryRecord[] }).value;
    expect(log.map((d) => [d.subscription, d.attempt, d.status, d.outcome])).toEqual([
      ['operator-refresh', 1, 500, 'retrying'],
      ['operator-refresh', 2, 200, 'delivered'],
    ]);
    expect(JSON.stringify((await adminCall('GET', '/subscriptions')).json)).not.toMatch(/delivery-key|query-key/);
  });

  it('refuses a subscription to an HTTPS endpoint whose CA it does not trust', async () => {
    const untrusted = new EventGridPublisher({ clock: new Clock(), trustedCaPems: [] });
    try {
      await expect(untrusted.createSubscription({ name: 'untrusted', endpointUrl: receiver.url })).rejects.toMatchObject({
        reason: 'WebhookValidationHandshakeFailed',
      });
    } finally {
      await untrusted.close();
    }
  });
});

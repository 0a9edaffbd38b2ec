/**
 * The config's seeds and the Key Vault events the data plane hands to the Event Grid publisher:
 * SecretNewVersionCreated / CertificateNewVersionCreated on new versions, and SecretNearExpiry /
 * SecretExpired from the periodic check against the (shiftable) emulator clock.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookReceiver } from '../../../src/emulator/eventgrid/testing-receiver.ts';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { admin, clientsFor, startTestEmulator, type Clients } from './kv-support.ts';

const config = {
  vaults: [
    {
      name: 'devkv',
      secrets: [{ name: 'seeded', value: 'from-config', contentType: 'text/plain', tags: { origin: 'seed' } }],
      certificates: [
        { name: 'seeded-tls', issuer: 'EmulatorTestCA', subject: 'CN=seeded.example', dnsNames: ['seeded.example'] },
        { name: 'seeded-ec', keyType: 'EC', contentType: 'application/x-pem-file' },
      ],
    },
  ],
  expiry: { checkSeconds: 1 },
};

let emu: RunningEmulator;
let c: Clients;
let receiver: WebhookReceiver;

interface DeliveredEvent {
  eventType: string;
  subject: string;
  data: { ObjectName: string; ObjectType: string; VaultName: string; Version: string };
}

function delivered(): DeliveredEvent[] {
  return receiver.requests
    .filter((r) => r.method === 'POST' && r.headers['aeg-event-type'] === 'Notification')
    .flatMap((r) => JSON.parse(r.body) as DeliveredEvent[]);
}

async function waitForEvent(type: string, objectName: string): Promise<DeliveredEvent> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const e = delivered().find((x) => x.eventType === type && x.data.ObjectName === objectName);
    if (e !== undefined) return e;
    if (Date.now() > deadline) throw new Error(`no ${type} for ${objectName}; got ${delivered().map((x) => `${x.eventType}:${x.data.ObjectName}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  emu = await startTestEmulator(config);
  c = clientsFor(emu);
  receiver = await WebhookReceiver.start();
  const sub = await admin(emu, 'POST', '/eventgrid/subscriptions', { name: 'kv-events', endpointUrl: receiver.url });
  expect(sub.status).toBe(201);
});
afterAll(async () => {
  await emu.stop();
  await receiver.close();
});

describe('seeds from the config', () => {
  it('creates seeded secrets and certificates (test CA chain, EC with PEM)', async () => {
    const s = await c.secrets.getSecret('seeded');
    expect(s.value).toBe('from-config');
    expect(s.properties.tags).toEqual({ origin: 'seed' });
    const tls = await c.certificates.getCertificate('seeded-tls');
    expect(new X509Certificate(Buffer.from(tls.cer ?? new Uint8Array())).issuer).toBe('CN=EmulatorTestCA Intermediate CA\nO=kvsync emulator');
    const ec = await c.secrets.getSecret('seeded-ec');
    expect(ec.properties.contentType).toBe('application/x-pem-file');
    expect((await c.keys.getKey('seeded-ec')).keyType).toBe('EC');
  });
});

describe('events', () => {
  it('publishes SecretNewVersionCreated and CertificateNewVersionCreated for new versions', async () => {
    const s = await c.secrets.setSecret('evented', 'v1');
    const e = await waitForEvent('Microsoft.KeyVault.SecretNewVersionCreated', 'evented');
    expect(e.data).toMatchObject({ ObjectType: 'Secret', VaultName: 'devkv', Version: s.properties.version });
    await (await c.certificates.beginCreateCertificate('evented-cert', { issuerName: 'Self', subject: 'CN=e' }, { intervalInMs: 50 })).pollUntilDone();
    const ce = await waitForEvent('Microsoft.KeyVault.CertificateNewVersionCreated', 'evented-cert');
    expect(ce.data.ObjectType).toBe('Certificate');
  });

  it('publishes SecretNearExpiry and SecretExpired as the emulator clock moves', async () => {
    const exp = new Date((Math.floor(Date.now() / 1000) + 40 * 86400) * 1000);
    await c.secrets.setSecret('expiring', 'v', { expiresOn: exp });
    expect((await admin(emu, 'POST', '/time', { shiftSeconds: 15 * 86400 })).status).toBe(200);
    await waitForEvent('Microsoft.KeyVault.SecretNearExpiry', 'expiring');
    expect(delivered().some((x) => x.eventType === 'Microsoft.KeyVault.SecretExpired' && x.data.ObjectName === 'expiring')).toBe(false);
    expect((await admin(emu, 'POST', '/time', { shiftSeconds: 30 * 86400 })).status).toBe(200);
    await waitForEvent('Microsoft.KeyVault.SecretExpired', 'expiring');
    // Key Vault keeps serving an expired secret (exp is informational). A fresh client: tokens cached
    // by `c` were issued before the time shift and are now expired for the emulator.
    expect((await clientsFor(emu).secrets.getSecret('expiring')).value).toBe('v');
    expect((await admin(emu, 'DELETE', '/time')).status).toBe(200);
  });
});

/**
 * The pending phase of a new certificate version, as Key Vault has it: the create answers 202
 * `inProgress` with `Retry-After: 10`; polls answer `inProgress` (with `status_details` and
 * `Retry-After`) until the phase ends; meanwhile the certificate, its secret and their version lists show
 * only the previous version; then the new version appears, `created` when the phase ended, and the
 * operation says `completed` with a `target`. The phase is set with `PUT /admin/certificate-creation`
 * and ended by moving the emulator clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { admin, bearer, clientsFor, rawRequest, startTestEmulator, type Clients } from './kv-support.ts';

let emu: RunningEmulator;
let c: Clients;

beforeAll(async () => {
  emu = await startTestEmulator({ certificateCreation: { pendingSeconds: 30 } });
  c = clientsFor(emu);
});

afterAll(async () => {
  await emu?.stop();
});

const POLICY = { issuerName: 'Self', subject: 'CN=pending.example' } as const;

describe('pending certificate versions', () => {
  it('stay invisible until the pending phase ends, then appear as the current version', async () => {
    expect((await admin(emu, 'GET', '/certificate-creation')).json).toEqual({ pendingSeconds: 30 });
    // The first version: nothing to read until it completes.
    const firstPoller = await c.certificates.beginCreateCertificate('pend', POLICY, { intervalInMs: 50 });
    expect(firstPoller.getOperationState().isCompleted).not.toBe(true);
    await expect(c.certificates.getCertificate('pend')).rejects.toMatchObject({ statusCode: 404 });
    await expect(c.secrets.getSecret('pend')).rejects.toMatchObject({ statusCode: 404 });
    emu.clock.shift(31_000);
    const first = await firstPoller.pollUntilDone();
    const v1 = first.properties.version ?? '';
    expect(v1).toMatch(/^[0-9a-f]{32}$/);

    // A new version: the previous one stays current while it is pending.
    const token = await bearer(emu);
    const url = `${c.vaultUrl}/certificates/pend/create?api-version=7.5`;
    const created = await rawRequest(emu, 'POST', url, { headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ policy: { issuer: { name: 'Self' }, x509_props: { subject: 'CN=pending.example' } } }) });
    expect(created.status).toBe(202);
    expect(created.headers['retry-after']).toBe('10');
    expect(created.json).toMatchObject({ status: 'inProgress', status_details: expect.stringContaining('in progress') as unknown });
    const poll = await rawRequest(emu, 'GET', `${c.vaultUrl}/certificates/pend/pending?api-version=7.5`, { headers: { Authorization: `Bearer ${token}` } });
    expect(poll.status).toBe(200);
    expect(poll.headers['retry-after']).toBe('10');
    expect(poll.json).toMatchObject({ status: 'inProgress' });
    expect(poll.json).not.toHaveProperty('target');

    expect((await c.certificates.getCertificate('pend')).properties.version).toBe(v1);
    expect((await c.secrets.getSecret('pend')).properties.version).toBe(v1);
    const secretVersions: string[] = [];
    for await (const p of c.secrets.listPropertiesOfSecretVersions('pend')) secretVersions.push(p.version ?? '');
    expect(secretVersions).toEqual([v1]);
    const certVersions: string[] = [];
    for await (const p of c.certificates.listPropertiesOfCertificateVersions('pend')) certVersions.push(p.version ?? '');
    expect(certVersions).toEqual([v1]);

    // The phase ends on the emulator clock.
    const endsAt = emu.clock.nowSeconds() + 30;
    emu.clock.shift(31_000);
    const done = await rawRequest(emu, 'GET', `${c.vaultUrl}/certificates/pend/pending?api-version=7.5`, { headers: { Authorization: `Bearer ${token}` } });
    expect(done.json).toMatchObject({ status: 'completed', target: `${c.vaultUrl}/certificates/pend` });
    expect(done.headers['retry-after']).toBeUndefined();
    const current = await c.certificates.getCertificate('pend');
    const v2 = current.properties.version ?? '';
    expect(v2).not.toBe(v1);
    expect(Math.abs((current.properties.createdOn?.getTime() ?? 0) / 1000 - endsAt)).toBeLessThanOrEqual(1);
    const secret = await c.secrets.getSecret('pend');
    expect(secret.properties.version).toBe(v2);
    expect(secret.properties.contentType).toBe('application/x-pkcs12');

    // Back to completing at once.
    expect((await admin(emu, 'PUT', '/certificate-creation', { pendingSeconds: 0 })).status).toBe(200);
    expect((await admin(emu, 'PUT', '/certificate-creation', { pendingSeconds: -1 })).status).toBe(400);
    const quick = await (await c.certificates.beginCreateCertificate('quick', POLICY, { intervalInMs: 50 })).pollUntilDone();
    expect(quick.properties.version).toMatch(/^[0-9a-f]{32}$/);
  });
});

/**
 * A sync across a certificate version's pending phase, on the real control plane and the emulator with
 * Key Vault's pending behaviour (`PUT /admin/certificate-creation`): while the new version is pending,
 * syncs keep the last good kubernetes.io/tls Secret and the KeyVaultSync stays Ready on the old
 * version; once the version completes the next sync writes it. A watch on the Secret sees every write:
 * each one holds a key that matches its certificate and is exactly the old or the new version.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { admin, clientsFor, rawRequest, bearer, type Clients } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { conditionOf, startOperatorFixture, syncApi, syncSpec, type OperatorFixture, type TestWorld } from './support.ts';

const WAIT = { timeoutMs: 60_000, intervalMs: 250 };
const CERT = 'pend-tls';
const POLICY = { issuerName: 'Self', subject: 'CN=pending.example', dnsNames: ['pending.example'] } as const;

describe('a certificate version pending in Key Vault', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const syncs = syncApi(kc);
  let fixture: OperatorFixture | undefined;
  let world: TestWorld;
  let ns = '';
  let kv: Clients;
  /** Every state of the Secret's data the watch saw: tls.crt's fingerprint and whether tls.key matches it. */
  const seen: { fingerprint: string; keyMatches: boolean }[] = [];
  let watch: { abort(): void } | undefined;

  beforeAll(async () => {
    fixture = await startOperatorFixture(kc, 'pend');
    ({ world, ns } = fixture);
    kv = clientsFor(world.emu);
  }, 120_000);

  afterAll(async () => {
    watch?.abort();
    await fixture?.stop();
  });

  const tlsOf = async (): Promise<{ crt: string; key: string } | undefined> => {
    try {
      const s = await core.readNamespacedSecret({ name: CERT, namespace: ns });
      return { crt: Buffer.from(s.data?.['tls.crt'] ?? '', 'base64').toString(), key: Buffer.from(s.data?.['tls.key'] ?? '', 'base64').toString() };
    } catch {
      return undefined;
    }
  };
  const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256;
  const keyMatches = (crt: string, key: string): boolean => {
    try {
      return new X509Certificate(crt).checkPrivateKey(createPrivateKey(key));
    } catch {
      return false;
    }
  };
  const kvFingerprint = async (): Promise<{ version: string; fingerprint: string }> => {
    const c = await kv.certificates.getCertificate(CERT);
    return { version: c.properties.version ?? '', fingerprint: new X509Certificate(Buffer.from(c.cer ?? new Uint8Array())).fingerprint256 };
  };
  /** Force-syncs and waits for the sync that follows (a newer lastSyncTime). */
  const forceSync = async (value: string): Promise<void> => {
    const before = (await syncs.get(ns, 'pend')).status?.lastSyncTime;
    await syncs.patch(ns, 'pend', { metadata: { annotations: { 'kvsync.dev/force-sync': value } } });
    await pollUntil(async () => ((await syncs.get(ns, 'pend')).status?.lastSyncTime !== before ? true : undefined), { ...WAIT, description: `the sync after force-sync ${value}` });
  };

  it('keeps the last good Secret while the version is pending and writes the new one, whole, once it completes', async () => {
    await (await kv.certificates.beginCreateCertificate(CERT, POLICY, { intervalInMs: 50 })).pollUntilDone();
    const v1 = await kvFingerprint();
    await syncs.create(ns, 'pend', syncSpec(world, {
      objects: [{ name: CERT, type: 'certificate' }],
      secretObjects: [{ secretName: CERT, type: 'kubernetes.io/tls', data: [{ objectName: CERT }] }],
      refreshInterval: '1h',
    }));
    await pollUntil(async () => (conditionOf(await syncs.get(ns, 'pend'), 'Ready')?.status === 'True' ? true : undefined), { ...WAIT, description: 'pend Ready' });
    const first = await tlsOf();
    expect(first && fingerprintOf(first.crt)).toBe(v1.fingerprint);

    // Every write of the Secret from now on.
    watch = await new k8s.Watch(kc).watch(`/api/v1/namespaces/${ns}/secrets`, { fieldSelector: `metadata.name=${CERT}` }, (_type: string, obj: k8s.V1Secret) => {
      const crt = Buffer.from(obj.data?.['tls.crt'] ?? '', 'base64').toString();
      const key = Buffer.from(obj.data?.['tls.key'] ?? '', 'base64').toString();
      let fingerprint = 'unreadable';
      try {
        fingerprint = fingerprintOf(crt);
      } catch {
        // recorded as unreadable
      }
      seen.push({ fingerprint, keyMatches: keyMatches(crt, key) });
    }, () => undefined);

    // A new version, pending for 10 minutes of the emulator's clock.
    expect((await admin(world.emu, 'PUT', '/certificate-creation', { pendingSeconds: 600 })).status).toBe(200);
    const token = await bearer(world.emu);
    const created = await rawRequest(world.emu, 'POST', `${kv.vaultUrl}/certificates/${CERT}/create?api-version=7.5`, {
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ policy: { issuer: { name: 'Self' }, x509_props: { subject: 'CN=pending.example', sans: { dns_names: ['pending.example'] } } } }),
    });
    expect(created.status).toBe(202);
    expect(created.json).toMatchObject({ status: 'inProgress' });

    // Syncs during the pending phase: the old version stays, the KeyVaultSync stays Ready on it.
    for (const n of [1, 2]) {
      await forceSync(`pending-${n}`);
      const o = await syncs.get(ns, 'pend');
      expect(conditionOf(o, 'Ready')?.status).toBe('True');
      expect(o.status?.objects?.find((x: { name: string }) => x.name === CERT)?.version).toBe(v1.version);
      const now = await tlsOf();
      expect(now && fingerprintOf(now.crt)).toBe(v1.fingerprint);
    }

    // The version completes (the emulator's clock moves past the phase): the next sync writes it.
    world.emu.clock.shift(601_000);
    const v2 = await kvFingerprint();
    expect(v2.version).not.toBe(v1.version);
    await forceSync('completed');
    await pollUntil(async () => {
      const t = await tlsOf();
      return t !== undefined && fingerprintOf(t.crt) === v2.fingerprint ? true : undefined;
    }, { ...WAIT, description: 'the new version in the Secret' });
    const last = await tlsOf();
    expect(last && keyMatches(last.crt, last.key)).toBe(true);
    expect((await syncs.get(ns, 'pend')).status?.objects?.find((x: { name: string }) => x.name === CERT)?.version).toBe(v2.version);

    // What the watch saw: only whole old or new versions, each key matching its certificate.
    await pollUntil(() => Promise.resolve(seen.some((s) => s.fingerprint === v2.fingerprint) ? true : undefined), { ...WAIT, description: 'the watch saw the new version' });
    expect(seen.every((s) => s.keyMatches)).toBe(true);
    expect(seen.every((s) => s.fingerprint === v1.fingerprint || s.fingerprint === v2.fingerprint)).toBe(true);
  });
});

/**
 * Ingress TLS from one annotation, on the real apiserver (with its garbage collector) and the Key
 * Vault emulator: the docs/api.md example applied as written gets its kubernetes.io/tls Secret (key
 * matching the leaf, chain, the serial of the vault's current version), a new version is rotated in,
 * and `kubectl describe ingress` has the events. A shared identity that does not grant the namespace,
 * a Secret kvsync did not create, a bad annotation and a KeyVaultSync of the derived name are refused
 * on the Ingress; removing the annotation or the Ingress removes the Secret, unless Retain.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { pageExamples } from '../../../src/api/testing/doc-examples.ts';
import { derivedSyncName, TLS_ORIGIN_LABEL } from '../../../src/api/tls-origin.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { conditionOf, createManagedIdentityGrant, eventsWith, secretIfAny, SP_SECRET, startOperatorFixture, syncApi, VAULT, type OperatorFixture } from './support.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const net = kc.makeApiClient(k8s.NetworkingV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const syncs = syncApi(kc);
const WAIT = { timeoutMs: 60_000, intervalMs: 200 };
let fx: OperatorFixture;

beforeAll(async () => {
  fx = await startOperatorFixture(kc, 'ingress-tls');
});

afterAll(async () => {
  await fx.stop();
});

function example(): k8s.V1Ingress {
  const obj = pageExamples('api.md').flatMap((e) => e.objects).find((o) => o.kind === 'Ingress');
  if (obj === undefined) throw new Error('docs/api.md has no Ingress example');
  return obj;
}

/** An Ingress like the example's, with other names and annotations. */
function ingress(name: string, secretName: string, annotations: Record<string, string>): k8s.V1Ingress {
  const base = example();
  return { ...base, metadata: { name, namespace: fx.ns, annotations }, spec: { ...base.spec, tls: [{ hosts: ['shop.example'], secretName }] } };
}

function annotationsOf(overrides: Record<string, string> = {}): Record<string, string> {
  return { ...(example().metadata?.annotations ?? {}), ...overrides };
}

function secret(name: string): Promise<k8s.V1Secret | undefined> {
  return secretIfAny(kc, fx.ns, name);
}

function eventsOf(name: string, reason: string): Promise<k8s.CoreV1Event[]> {
  return eventsWith(kc, fx.ns, { kind: 'Ingress', name }, reason);
}

async function gone(read: () => Promise<unknown>, description: string): Promise<void> {
  await pollUntil(async () => ((await read()) === undefined ? true : undefined), { ...WAIT, description });
}

async function derivedSync(ingressName: string): Promise<unknown> {
  try {
    return await syncs.get(fx.ns, derivedSyncName('Ingress', ingressName));
  } catch (err) {
    if (err instanceof k8s.ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/** The vault's current version of certificate `shop-tls`: its serial number. */
async function currentSerial(): Promise<string> {
  const cert = await clientsFor(fx.world.emu, undefined, VAULT).certificates.getCertificate('shop-tls');
  return new X509Certificate(Buffer.from(cert.cer ?? new Uint8Array())).serialNumber;
}

function checkTlsSecret(s: k8s.V1Secret | undefined): X509Certificate {
  expect(s?.type).toBe('kubernetes.io/tls');
  const pem = Buffer.from(s?.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
  const chain = pem.split(/(?=-----BEGIN CERTIFICATE-----)/).map((c) => new X509Certificate(c));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error('tls.crt holds no certificate');
  expect(chain.length, 'tls.crt: the leaf, then the intermediate').toBe(2);
  expect(leaf.checkIssued(chain[1]!)).toBe(true);
  expect(leaf.checkPrivateKey(createPrivateKey(Buffer.from(s?.data?.['tls.key'] ?? '', 'base64')))).toBe(true);
  return leaf;
}

function noValues(events: k8s.CoreV1Event[], s: k8s.V1Secret | undefined): void {
  const text = JSON.stringify(events);
  expect(text).not.toContain(SP_SECRET);
  for (const v of Object.values(s?.data ?? {})) expect(text).not.toContain(v.slice(0, 40));
}

describe('Ingress TLS from one annotation', () => {
  it('the docs/api.md example gets its TLS Secret, a new version is rotated in, and describe shows both', async () => {
    const body = { ...example(), metadata: { ...example().metadata, namespace: fx.ns } };
    await net.createNamespacedIngress({ namespace: fx.ns, body, fieldValidation: 'Strict' });
    const first = await pollUntil(async () => secret('shop-tls'), { ...WAIT, description: 'Secret shop-tls' });
    expect(checkTlsSecret(first).serialNumber).toBe(await currentSerial());
    const derived = (await derivedSync('shop')) as { metadata?: k8s.V1ObjectMeta };
    expect(derived.metadata?.labels?.[TLS_ORIGIN_LABEL]).toBe('Ingress');
    const ing = await net.readNamespacedIngress({ namespace: fx.ns, name: 'shop' });
    expect(derived.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Ingress', name: 'shop', uid: ing.metadata?.uid, controller: true })]);
    const created = await eventsOf('shop', 'TLSSecretCreated');
    expect(created.find((e) => e.reason === 'TLSSecretCreated')?.message).toContain('created Secret shop-tls (kubernetes.io/tls) from Key Vault certificate shop-tls version');

    // A new version in the vault, issued by the same CA; a force-sync of the derived KeyVaultSync brings it now.
    const certificates = clientsFor(fx.world.emu, undefined, VAULT).certificates;
    const policy = await certificates.getCertificatePolicy('shop-tls');
    const v2 = await (await certificates.beginCreateCertificate('shop-tls', policy, { intervalInMs: 50 })).pollUntilDone();
    const serial2 = await currentSerial();
    expect(serial2).not.toBe(checkTlsSecret(first).serialNumber);
    await syncs.patch(fx.ns, derivedSyncName('Ingress', 'shop'), { metadata: { annotations: { 'kvsync.dev/force-sync': 'rotate-1' } } });
    const rotated = await pollUntil(
      async () => {
        const s = await secret('shop-tls');
        return s !== undefined && checkTlsSecret(s).serialNumber === serial2 ? s : undefined;
      },
      { ...WAIT, description: 'Secret shop-tls holds the new version' },
    );
    const events = await eventsOf('shop', 'TLSSecretRotated');
    expect(events.find((e) => e.reason === 'TLSSecretRotated')?.message).toBe(`Secret shop-tls now holds Key Vault certificate shop-tls version ${v2.properties.version ?? ''}`);
    noValues(events, rotated);

    // Removing the annotation removes the derived KeyVaultSync and, with it (Delete), the Secret.
    await net.patchNamespacedIngress(
      { namespace: fx.ns, name: 'shop', body: [{ op: 'remove', path: '/metadata/annotations/kvsync.dev~1tls-certificate' }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    await gone(() => derivedSync('shop'), 'derived KeyVaultSync deleted');
    await gone(() => secret('shop-tls'), 'Secret shop-tls deleted with it');
    expect((await eventsOf('shop', 'TLSSecretReleased')).find((e) => e.reason === 'TLSSecretReleased')?.message).toContain('Secret shop-tls is deleted with it');
  });

  it('never overwrites a Secret kvsync did not create, and says so on the Ingress', async () => {
    const foreign = { 'tls.crt': Buffer.from('not kvsync').toString('base64'), 'tls.key': Buffer.from('not kvsync').toString('base64') };
    await core.createNamespacedSecret({ namespace: fx.ns, body: { metadata: { name: 'foreign-tls' }, type: 'Opaque', data: foreign } });
    await net.createNamespacedIngress({ namespace: fx.ns, body: ingress('foreign', 'foreign-tls', annotationsOf()) });
    const events = await eventsOf('foreign', 'SecretConflict');
    expect(events.find((e) => e.reason === 'SecretConflict')?.type).toBe('Warning');
    expect((await secret('foreign-tls'))?.data).toEqual(foreign);
    expect(conditionOf((await derivedSync('foreign')) as never, 'Ready')?.reason).toBe('SecretConflict');
  });

  it('refuses a shared identity that does not grant the namespace (the same grant check), writing nothing', async () => {
    const identityName = `ingress-fenced-${Math.random().toString(36).slice(2, 8)}`;
    await createManagedIdentityGrant(kc, fx.world, identityName, ['some-other-namespace']);
    try {
      await net.createNamespacedIngress({ namespace: fx.ns, body: ingress('fenced', 'fenced-tls', annotationsOf({ 'kvsync.dev/tls-identity': `managedIdentity:${identityName}` })) });
      const events = await eventsOf('fenced', 'IdentityNotPermitted');
      expect(events.find((e) => e.reason === 'IdentityNotPermitted')?.message).toContain(fx.ns);
      expect(await secret('fenced-tls')).toBeUndefined();
    } finally {
      await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name: identityName });
    }
  });

  it('refuses an annotation it cannot use, and a KeyVaultSync of the derived name it did not derive, before applying anything', async () => {
    await net.createNamespacedIngress({ namespace: fx.ns, body: ingress('elsewhere', 'elsewhere-tls', annotationsOf({ 'kvsync.dev/tls-certificate': 'https://attacker.example.com/certificates/shop-tls' })) });
    const refused = await eventsOf('elsewhere', 'InvalidTLSRequest');
    expect(refused.find((e) => e.reason === 'InvalidTLSRequest')?.message).toContain('--allowed-vault-hosts');
    expect(await derivedSync('elsewhere')).toBeUndefined();

    // Someone's own KeyVaultSync already has the name kvsync would derive: it is left alone.
    const taken = derivedSyncName('Ingress', 'taken');
    await syncs.create(fx.ns, taken, { vault: { name: VAULT, tenantID: fx.world.emu.endpoints.tenantID }, identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } }, objects: [{ name: 'db-password' }], secretObjects: [{ secretName: 'taken-db', data: [{ objectName: 'db-password' }] }] });
    await net.createNamespacedIngress({ namespace: fx.ns, body: ingress('taken', 'taken-tls', annotationsOf()) });
    expect((await eventsOf('taken', 'TLSSyncConflict')).find((e) => e.reason === 'TLSSyncConflict')?.message).toContain(`KeyVaultSync ${taken} exists and is not derived from this Ingress`);
    const kept = (await syncs.get(fx.ns, taken)) as { metadata?: k8s.V1ObjectMeta; spec?: { secretObjects?: { secretName: string }[] } };
    expect(kept.metadata?.ownerReferences ?? []).toEqual([]);
    expect(kept.spec?.secretObjects?.map((s) => s.secretName)).toEqual(['taken-db']);
  });

  it('deleting the Ingress deletes its Secret; with Retain the Secret stays', async () => {
    await net.createNamespacedIngress({ namespace: fx.ns, body: ingress('short', 'short-tls', annotationsOf()) });
    await net.createNamespacedIngress({ namespace: fx.ns, body: ingress('kept', 'kept-tls', annotationsOf({ 'kvsync.dev/tls-deletion-policy': 'Retain' })) });
    await pollUntil(async () => secret('short-tls'), { ...WAIT, description: 'Secret short-tls' });
    checkTlsSecret(await pollUntil(async () => secret('kept-tls'), { ...WAIT, description: 'Secret kept-tls' }));
    await net.deleteNamespacedIngress({ namespace: fx.ns, name: 'short' });
    await net.deleteNamespacedIngress({ namespace: fx.ns, name: 'kept' });
    await gone(() => secret('short-tls'), 'Secret short-tls deleted with its Ingress');
    await gone(() => derivedSync('kept'), 'derived KeyVaultSync of kept deleted with its Ingress');
    checkTlsSecret(await secret('kept-tls'));
  });
});

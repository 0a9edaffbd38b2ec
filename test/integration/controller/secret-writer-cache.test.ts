/**
 * SecretWriter reading from a cache on the real apiserver: every apply of an existing Secret carries
 * the resourceVersion its ownership was checked against, so a stale cache never leads to a write into
 * a Secret that was not checked (a Secret kvsync wrote, deleted and re-created by someone else), and a
 * Secret kvsync owns that changed since the cache saw it is read once more and written.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretWriter } from '../../../src/controller/secret-writer.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { countRequests } from '../support/request-count.ts';

describe('SecretWriter with a stale cache', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;
  // No KeyVaultSync of this UID exists: creationPolicy Orphan (the owner-uid annotation), so the garbage
  // collector has no owner reference to act on.
  const uid = '5d6b0f3e-2c1a-4b9d-8e7f-0a1b2c3d4e5f';
  const desired = (value: string) => ({ name: 'app-db', type: 'Opaque', labels: {}, annotations: {}, creationPolicy: 'Orphan' as const, data: { PASSWORD: Buffer.from(value) } });
  const stored = async (): Promise<k8s.V1Secret> => core.readNamespacedSecret({ name: 'app-db', namespace: ns });

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'writer-cache');
  });

  afterAll(async () => {
    await deleteTestNamespace(kc, ns);
  });

  it('refuses a Secret re-created by someone else that the cache still shows as kvsync\'s, and writes nothing into it', async () => {
    const owner = { name: 'app', namespace: ns, uid };
    await new SecretWriter(kc).applySecret(owner, desired('v1'));
    const stale = await stored();
    await core.deleteNamespacedSecret({ name: 'app-db', namespace: ns });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'app-db' }, stringData: { PASSWORD: 'theirs' } } });
    const writer = new SecretWriter(kc, { cachedSecret: () => stale });
    await expect(writer.applySecret(owner, desired('v2'))).rejects.toMatchObject({ reason: 'SecretConflict' });
    expect(Buffer.from((await stored()).data?.PASSWORD ?? '', 'base64').toString()).toBe('theirs');
    await core.deleteNamespacedSecret({ name: 'app-db', namespace: ns });
  });

  it('writes a Secret it owns that changed since the cache saw it, after one fresh read', async () => {
    const owner = { name: 'app', namespace: ns, uid };
    const counted = kubeConfig();
    const counter = countRequests(counted);
    await new SecretWriter(kc).applySecret(owner, desired('v1'));
    const stale = await stored();
    await core.patchNamespacedSecret({ name: 'app-db', namespace: ns, body: { data: { PASSWORD: Buffer.from('edited').toString('base64') } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    const writer = new SecretWriter(counted, { cachedSecret: () => stale });
    expect(await writer.applySecret(owner, desired('v2'))).toBe('updated');
    expect(Buffer.from((await stored()).data?.PASSWORD ?? '', 'base64').toString()).toBe('v2');
    // The apply refused by its precondition, one GET, the apply.
    expect(counter.requests.map((r) => r.method)).toEqual(['PATCH', 'GET', 'PATCH']);
    // Current (the cache now shows what is there): nothing is sent.
    const current = await stored();
    counter.reset();
    const cached = new SecretWriter(counted, { cachedSecret: () => current });
    expect(await cached.applySecret(owner, desired('v2'), { skipIfCurrent: true })).toBe('unchanged');
    expect(counter.requests).toEqual([]);
  });
});

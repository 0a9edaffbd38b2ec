import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';

describe('kube-controller-manager garbage collection', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let namespace = '';

  beforeAll(async () => {
    namespace = await createTestNamespace(kc, 'gc');
  });
  afterAll(async () => {
    await deleteTestNamespace(kc, namespace);
  });

  it('deletes an owned Secret after its owner is deleted, and keeps an unowned one', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
    const ownerReferences = [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true }];
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'owned', ownerReferences }, stringData: { k: 'v' } } });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'bystander' }, stringData: { k: 'v' } } });

    await core.deleteNamespacedConfigMap({ namespace, name: 'owner' });
    await pollUntil(
      async () => {
        try {
          await core.readNamespacedSecret({ namespace, name: 'owned' });
          return undefined;
        } catch (err) {
          if (statusOf(err) === 404) return true;
          throw err;
        }
      },
      { timeoutMs: 45_000, intervalMs: 250, description: 'the owned Secret to be garbage-collected' },
    );
    await expect(core.readNamespacedSecret({ namespace, name: 'bystander' })).resolves.toMatchObject({ metadata: { name: 'bystander' } });
  });
});

import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

describe('a watch-based informer on the real apiserver', () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let namespace = '';
  let informer: k8s.Informer<k8s.V1ConfigMap> & k8s.ObjectCache<k8s.V1ConfigMap>;
  const seen: string[] = [];

  beforeAll(async () => {
    namespace = await createTestNamespace(kc, 'informer');
    informer = k8s.makeInformer(kc, `/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace }));
    informer.on('add', (o) => seen.push(`add:${o.metadata?.name}:${o.data?.v}`));
    informer.on('update', (o) => seen.push(`update:${o.metadata?.name}:${o.data?.v}`));
    informer.on('delete', (o) => seen.push(`delete:${o.metadata?.name}`));
    await informer.start();
  });

  afterAll(async () => {
    await informer.stop();
    await deleteTestNamespace(kc, namespace);
  });

  it('sees create, update and delete, and its cache follows', async () => {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'watched' }, data: { v: '1' } } });
    await pollUntil(() => (seen.includes('add:watched:1') ? true : undefined), { timeoutMs: 15_000, description: 'the add event' });
    expect(informer.get('watched', namespace)?.data?.v).toBe('1');

    await core.patchNamespacedConfigMap(
      { namespace, name: 'watched', body: { data: { v: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await pollUntil(() => (seen.includes('update:watched:2') ? true : undefined), { timeoutMs: 15_000, description: 'the update event' });
    expect(informer.get('watched', namespace)?.data?.v).toBe('2');

    await core.deleteNamespacedConfigMap({ namespace, name: 'watched' });
    await pollUntil(() => (seen.includes('delete:watched') ? true : undefined), { timeoutMs: 15_000, description: 'the delete event' });
    expect(informer.get('watched', namespace)).toBeUndefined();
  });
});

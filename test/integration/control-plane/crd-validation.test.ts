import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';

// A throwaway CRD (not kvsync's own) proving the apiserver enforces structural schemas and CEL.
const group = 'foundation.kvsync.dev';
const crd: k8s.V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, maximum: 10 },
                  min: { type: 'integer' },
                  max: { type: 'integer' },
                },
                // client-node's typed model serialises only its own property names (x_kubernetes_validations);
                // a literal 'x-kubernetes-validations' key would be dropped silently.
                x_kubernetes_validations: [{ rule: '!has(self.min) || !has(self.max) || self.min <= self.max', message: 'min must not exceed max' }],
              },
            },
          },
        },
      },
    ],
  },
};

describe('the real kube-apiserver validates custom resources', () => {
  const kc = kubeConfig();
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  let namespace = '';

  beforeAll(async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd });
    await pollUntil(
      async () => {
        const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
        return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs: 30_000, description: 'the CRD to be Established' },
    );
    namespace = await createTestNamespace(kc, 'crd');
  });

  afterAll(async () => {
    await kc.makeApiClient(k8s.ApiextensionsV1Api).deleteCustomResourceDefinition({ name: crd.metadata!.name! });
    await deleteTestNamespace(kc, namespace);
  });

  const create = (name: string, spec: Record<string, unknown>): Promise<unknown> =>
    objects.createNamespacedCustomObject({ group, version: 'v1', namespace, plural: 'widgets', body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec } });

  it('reports the apiserver version under test', () => {
    expect(inject('kubeVersion')).toMatch(/^v1\.34\./);
  });

  it('accepts a valid object', async () => {
    await expect(create('ok', { size: 3, min: 1, max: 2 })).resolves.toMatchObject({ spec: { size: 3 } });
  });

  it('rejects an object that breaks the structural schema', async () => {
    const err = await create('too-big', { size: 11 }).catch((e: unknown) => e);
    expect(statusOf(err)).toBe(422);
    expect(String((err as Error).message)).toContain('spec.size');
  });

  it('rejects an object that breaks the CEL rule, with its message', async () => {
    const err = await create('inverted', { size: 1, min: 5, max: 2 }).catch((e: unknown) => e);
    expect(statusOf(err)).toBe(422);
    expect(String((err as Error).message)).toContain('min must not exceed max');
  });

  it('prunes fields the schema does not know', async () => {
    const created = (await create('pruned', { size: 2, unknown: 'x' })) as { spec: Record<string, unknown> };
    expect(created.spec).toEqual({ size: 2 });
  });
});

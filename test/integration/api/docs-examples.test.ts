/**
 * The kvsync examples of docs/migration.md and docs/api.md on the real kube-apiserver: each is created
 * with a server-side dry run and strict field validation, so the CRD schema, defaults and CEL rules
 * accept it exactly as written (nothing is stored; KeyVaultSyncs, Ingresses and Gateways go to this
 * test's namespace; KeyVaultIdentities and ClusterKeyVaultSyncs are cluster-scoped). The Gateway
 * API's standard CRDs are installed for the Gateway examples.
 * The worked examples (a kvsync-vault block, kvsync blocks and their kvsync-expect blocks) are then
 * applied for real, each with the emulator and a controller of its own, and the Secrets checked against
 * what the page says the reader will see.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/crd.ts';
import { installCrds } from '../../../src/api/install.ts';
import { EXAMPLE_PAGES, pageExamples, pageWorkedExamples } from '../../../src/api/testing/doc-examples.ts';
import { installGatewayApiCrds } from '../../../src/dev/gateway-api-crds.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { runWorkedExample } from './worked-examples.ts';

describe('docs examples on the real apiserver', () => {
  const kc = kubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const examples = EXAMPLE_PAGES.flatMap(pageExamples);
  const suffix = Math.random().toString(36).slice(2, 8);
  let namespace = '';

  beforeAll(async () => {
    await installCrds(kc, { timeoutMs: 60_000 });
    await installGatewayApiCrds(kc, { timeoutMs: 60_000 });
    namespace = await createTestNamespace(kc, 'docs-examples');
  });

  afterAll(async () => {
    if (namespace !== '') await deleteTestNamespace(kc, namespace);
  });

  it('has examples to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(9);
  });

  for (const ex of examples) {
    it(`${ex.file}:${ex.line} is accepted by a server-side dry run`, async () => {
      for (const obj of ex.objects) {
        const metadata = { ...(obj.metadata as Record<string, unknown>) };
        if (obj.kind === 'Ingress') {
          const body = { ...obj, metadata: { ...metadata, namespace } } as k8s.V1Ingress;
          const created = await kc.makeApiClient(k8s.NetworkingV1Api).createNamespacedIngress({ namespace, body, dryRun: 'All', fieldValidation: 'Strict' });
          expect(created.spec, `${ex.file}:${ex.line}`).toBeDefined();
        } else if (obj.kind === 'Gateway') {
          const body = { ...obj, metadata: { ...metadata, namespace } };
          const created = (await custom.createNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace, plural: 'gateways', body, dryRun: 'All', fieldValidation: 'Strict' })) as { spec?: unknown };
          expect(created.spec, `${ex.file}:${ex.line}`).toBeDefined();
        } else if (obj.kind === 'KeyVaultSync') {
          const body = { ...obj, metadata: { ...metadata, namespace } };
          const created = (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', body, dryRun: 'All', fieldValidation: 'Strict' })) as { spec?: unknown };
          expect(created.spec, `${ex.file}:${ex.line}`).toBeDefined();
        } else {
          // Cluster-scoped: a unique name, so an object of the example's name elsewhere in the run cannot clash.
          const body = { ...obj, metadata: { ...metadata, name: `${String(metadata.name)}-${suffix}` } };
          const plural = obj.kind === 'ClusterKeyVaultSync' ? 'clusterkeyvaultsyncs' : 'keyvaultidentities';
          const created = (await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural, body, dryRun: 'All', fieldValidation: 'Strict' })) as { spec?: unknown };
          expect(created.spec, `${ex.file}:${ex.line}`).toBeDefined();
        }
      }
    });
  }
});

describe('worked examples applied as written, synced by the controller', () => {
  const kc = kubeConfig();
  const worked = EXAMPLE_PAGES.flatMap(pageWorkedExamples);

  it('has the worked examples of templates, selection and lifecycle', () => {
    const applied = worked.flatMap((w) => w.steps.map((s) => JSON.stringify(s.example.objects)));
    for (const field of ['templates', 'select', 'deletionPolicy']) expect(applied.some((a) => a.includes(`"${field}"`)), field).toBe(true);
  });

  for (const example of worked) {
    it(`${example.where}: ${example.steps.length} step(s) give the Secrets the page describes`, { timeout: 60_000 + example.steps.length * 90_000 }, async () => {
      await runWorkedExample(kc, example);
    });
  }
});

/**
 * The kvsync examples of docs/migration.md and docs/api.md on the real kube-apiserver: each is created
 * with a server-side dry run and strict field validation, so the CRD schema, defaults and CEL rules
 * accept it exactly as written (nothing is stored; KeyVaultSyncs go to this test's namespace).
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/crd.ts';
import { installCrds } from '../../../src/api/install.ts';
import { EXAMPLE_PAGES, pageExamples } from '../../../src/api/testing/doc-examples.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

describe('docs examples on the real apiserver', () => {
  const kc = kubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const examples = EXAMPLE_PAGES.flatMap(pageExamples);
  const suffix = Math.random().toString(36).slice(2, 8);
  let namespace = '';

  beforeAll(async () => {
    await installCrds(kc, { timeoutMs: 60_000 });
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
        if (obj.kind === 'KeyVaultSync') {
          const body = { ...obj, metadata: { ...metadata, namespace } };
          const created = (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', body, dryRun: 'All', fieldValidation: 'Strict' })) as { spec?: unknown };
          expect(created.spec, `${ex.file}:${ex.line}`).toBeDefined();
        } else {
          // Cluster-scoped: a unique name, so an object of the example's name elsewhere in the run cannot clash.
          const body = { ...obj, metadata: { ...metadata, name: `${String(metadata.name)}-${suffix}` } };
          const created = (await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', body, dryRun: 'All', fieldValidation: 'Strict' })) as { spec?: unknown };
          expect(created.spec, `${ex.file}:${ex.line}`).toBeDefined();
        }
      }
    });
  }
});

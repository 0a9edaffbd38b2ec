/**
 * parseClusterKeyVaultSync: the KeyVaultSync spec with its rules and messages, plus namespaceSelector,
 * minus what belongs to a namespace's owner (each refusal mirrors a CEL rule the apiserver applies).
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER_MSG } from './clusterkeyvaultsync-schema.ts';
import { parseClusterKeyVaultSync } from './parse-cluster.ts';
import { designExampleSpec } from './testing/fixtures.ts';

function cluster(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'kvsync.dev/v1alpha1', kind: 'ClusterKeyVaultSync', metadata: { name: 'wildcard', generation: 3 }, spec };
}

function base(): Record<string, unknown> {
  const { restartTargets: _namespacedOnly, ...spec } = designExampleSpec();
  return { ...spec, namespaceSelector: { matchLabels: { tls: 'wildcard' } } };
}

function errorOf(spec: Record<string, unknown>): string {
  const r = parseClusterKeyVaultSync(cluster(spec));
  return r.ok ? '' : r.error.message;
}

describe('parseClusterKeyVaultSync', () => {
  it('resolves the spec as a KeyVaultSync of no namespace, with its selector', () => {
    const r = parseClusterKeyVaultSync(cluster(base()));
    expect(r.ok ? '' : r.error.message).toBe('');
    if (!r.ok) return;
    expect(r.value.name).toBe('wildcard');
    expect(r.value.namespaceSelector).toEqual({ matchLabels: { tls: 'wildcard' } });
    expect(r.value.sync.namespace).toBeUndefined();
    expect(r.value.sync.generation).toBe(3);
    expect(r.value.sync.secrets.map((s) => [s.name, s.creationPolicy])).toEqual([
      ['shop-tls', 'Owner'],
      ['shop-db', 'Owner'],
    ]);
  });

  it('deletionPolicy Retain writes without owner references (as a KeyVaultSync)', () => {
    const r = parseClusterKeyVaultSync(cluster({ ...base(), deletionPolicy: 'Retain' }));
    expect(r.ok && r.value.sync.secrets.every((s) => s.creationPolicy === 'Orphan')).toBe(true);
  });

  it('refuses what belongs to a namespace owner, naming the field', () => {
    for (const [field, value] of [
      ['configMapObjects', [{ configMapName: 'ca', data: [{ objectName: 'nginx' }] }]],
      ['restartTargets', [{ kind: 'Deployment', name: 'web' }]],
      ['parameters', { keyvaultName: 'gebakv' }],
      ['provider', 'azure'],
    ] as const) {
      const message = errorOf({ ...base(), [field]: value });
      expect(message, field).toContain(`spec.${field}`);
      expect(message, field).toContain(CLUSTER_MSG.namespacedOnly);
    }
  });

  it('refuses creation policies other than Owner', () => {
    const spec = base();
    const secretObjects = (spec.secretObjects as Record<string, unknown>[]).map((s, i) => (i === 1 ? { ...s, creationPolicy: 'Merge' } : s));
    const message = errorOf({ ...spec, secretObjects });
    expect(message).toContain('spec.secretObjects[1].creationPolicy');
    expect(message).toContain(CLUSTER_MSG.ownerOnly);
  });

  it('requires namespaceSelector, and applies every KeyVaultSync rule with its message', () => {
    const { namespaceSelector: _selector, ...withoutSelector } = base();
    expect(errorOf(withoutSelector)).toContain('spec.namespaceSelector');
    expect(errorOf({ ...base(), vault: { name: 'gebakv' } })).toContain('spec.vault.tenantID');
    expect(errorOf({ ...base(), namespace: 'x' })).toContain('spec.namespace: unknown field');
  });

  it('refuses another kind', () => {
    const r = parseClusterKeyVaultSync({ ...cluster(base()), kind: 'KeyVaultSync' });
    expect(r.ok ? '' : r.error.message).toContain('must be ClusterKeyVaultSync');
  });
});

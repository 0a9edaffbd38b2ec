import { describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from './parse.ts';
import { designExampleSpec, keyVaultSync } from './testing/fixtures.ts';

function policies(extra: Record<string, unknown>): { deletionPolicy: string; creation: string[] } {
  const spec = designExampleSpec();
  const secrets = spec.secretObjects as Record<string, unknown>[];
  secrets[1] = { ...secrets[1], creationPolicy: 'Merge' };
  secrets.push({ secretName: 'kept', creationPolicy: 'Orphan', data: [{ objectName: 'password' }] });
  const r = parseKeyVaultSync(keyVaultSync({ ...spec, ...extra }));
  if (!r.ok) throw new Error(r.error.message);
  return { deletionPolicy: r.value.deletionPolicy, creation: r.value.secrets.map((s) => `${s.name}:${s.creationPolicy}`) };
}

describe('deletionPolicy', () => {
  it('defaults to Delete: outputs kvsync creates are owned by the KeyVaultSync', () => {
    expect(policies({})).toEqual({ deletionPolicy: 'Delete', creation: ['shop-tls:Owner', 'shop-db:Merge', 'kept:Orphan'] });
  });

  it('Retain writes what kvsync creates without an owner reference (as Orphan); Merge stays Merge', () => {
    expect(policies({ deletionPolicy: 'Retain' })).toEqual({ deletionPolicy: 'Retain', creation: ['shop-tls:Orphan', 'shop-db:Merge', 'kept:Orphan'] });
  });

  it('accepts only Delete and Retain', () => {
    const r = parseKeyVaultSync(keyVaultSync({ ...designExampleSpec(), deletionPolicy: 'Orphan' }));
    expect(r.ok).toBe(false);
  });
});

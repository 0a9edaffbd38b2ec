import { describe, expect, it } from 'vitest';
import { MANAGED_BY_LABEL, SYNC_LABEL } from './labels.ts';
import { appliedMetadata, dataSize, MAX_DATA_BYTES, mayWrite } from './secret-writer.ts';

const owner = { name: 'app', namespace: 'shop', uid: 'uid-1' };

describe('mayWrite', () => {
  it('writes a missing Secret under any policy', () => {
    expect(mayWrite(undefined, owner, 'Owner')).toBe(true);
    expect(mayWrite(undefined, owner, 'Orphan')).toBe(true);
  });

  it('writes a Secret kvsync created for this KeyVaultSync', () => {
    expect(mayWrite({ labels: { [MANAGED_BY_LABEL]: 'kvsync', [SYNC_LABEL]: 'app' } }, owner, 'Owner')).toBe(true);
  });

  it('refuses a Secret someone else created, or kvsync for another KeyVaultSync, unless Merge', () => {
    expect(mayWrite({ labels: {} }, owner, 'Owner')).toBe(false);
    expect(mayWrite({ labels: { [MANAGED_BY_LABEL]: 'kvsync', [SYNC_LABEL]: 'other' } }, owner, 'Orphan')).toBe(false);
    expect(mayWrite({ labels: {} }, owner, 'Merge')).toBe(true);
  });
});

describe('appliedMetadata', () => {
  const out = { labels: { team: 'shop', [MANAGED_BY_LABEL]: 'kvsync' }, annotations: { a: 'b' } };

  it('Owner: managed-by, sync label and a controller owner reference', () => {
    const m = appliedMetadata('s', owner, { ...out, creationPolicy: 'Owner' }, true);
    expect(m.labels).toEqual({ team: 'shop', [MANAGED_BY_LABEL]: 'kvsync', [SYNC_LABEL]: 'app' });
    expect(m.ownerReferences).toEqual([{ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', name: 'app', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(m.annotations).toEqual({ a: 'b' });
  });

  it('Orphan: no owner reference', () => {
    expect(appliedMetadata('s', owner, { ...out, creationPolicy: 'Orphan' }, true).ownerReferences).toBeUndefined();
  });

  it('Merge into a foreign Secret: no owner reference and no managed-by claim', () => {
    const m = appliedMetadata('s', owner, { ...out, creationPolicy: 'Merge' }, false);
    expect(m.ownerReferences).toBeUndefined();
    expect(m.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
    expect(m.labels?.[SYNC_LABEL]).toBe('app');
  });
});

describe('dataSize', () => {
  it('counts keys and decoded values against the 1 MiB limit', () => {
    expect(dataSize({ ab: Buffer.alloc(10), c: 'dé' })).toBe(2 + 10 + 1 + 3);
    expect(dataSize({ k: Buffer.alloc(MAX_DATA_BYTES) })).toBeGreaterThan(MAX_DATA_BYTES);
  });
});

import { describe, expect, it } from 'vitest';
import { MERGE_FROM_ANNOTATION, OWNER_UID_ANNOTATION, writeRight } from '../api/secret-ownership.ts';
import { fieldManagerFor, MANAGED_BY_LABEL, SYNC_LABEL } from './labels.ts';
import type * as k8s from '@kubernetes/client-node';
import { appliedMetadata, holds } from './secret-writer.ts';

const owner = { name: 'app', namespace: 'shop', uid: 'uid-1' };
const ref = (uid: string, name = 'app') => ({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', name, uid, controller: true });
const lookAlike = { metadata: { labels: { [MANAGED_BY_LABEL]: 'kvsync', [SYNC_LABEL]: 'app' } } };

describe('writeRight', () => {
  it('writes a missing Secret under any policy', () => {
    for (const policy of ['Owner', 'Orphan', 'Merge'] as const) expect(writeRight('Secret', 's', undefined, owner, policy)).toEqual({ write: true, createdByUs: true });
  });

  it('writes a Secret this KeyVaultSync created: its UID in the owner reference or the owner-uid annotation', () => {
    expect(writeRight('Secret', 's', { metadata: { ownerReferences: [ref('uid-1')] } }, owner, 'Owner')).toEqual({ write: true, createdByUs: true });
    expect(writeRight('Secret', 's', { metadata: { annotations: { [OWNER_UID_ANNOTATION]: 'uid-1' } } }, owner, 'Orphan')).toEqual({ write: true, createdByUs: true });
  });

  it('never takes kvsync labels as proof: a look-alike is a conflict under every policy', () => {
    for (const policy of ['Owner', 'Orphan', 'Merge'] as const) expect(writeRight('Secret', 's', lookAlike, owner, policy)).toMatchObject({ write: false, reason: 'SecretConflict' });
  });

  it('calls a conflict over a ConfigMap ConfigMapConflict, not SecretConflict', () => {
    expect(writeRight('ConfigMap', 'c', lookAlike, owner, 'Owner')).toMatchObject({ write: false, reason: 'ConfigMapConflict' });
    expect(writeRight('ConfigMap', 'c', { metadata: { ownerReferences: [ref('uid-2', 'other')] } }, owner, 'Merge')).toMatchObject({ write: false, reason: 'ConfigMapConflict' });
  });

  it('refuses another KeyVaultSync\'s Secret, even under Merge with consent, or an earlier KeyVaultSync of the same name', () => {
    const other = writeRight('Secret', 's', { metadata: { ownerReferences: [ref('uid-2', 'other')], annotations: { [MERGE_FROM_ANNOTATION]: 'app' } } }, owner, 'Merge');
    expect(other).toMatchObject({ write: false, reason: 'SecretConflict' });
    expect(!other.write && other.message).toContain('another KeyVaultSync');
    expect(writeRight('Secret', 's', { metadata: { annotations: { [OWNER_UID_ANNOTATION]: 'uid-0' } } }, owner, 'Orphan')).toMatchObject({ write: false });
  });

  it('merges into a foreign Secret only when its owner named this KeyVaultSync in kvsync.dev/merge-from', () => {
    expect(writeRight('Secret', 's', { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: 'app' } } }, owner, 'Merge')).toEqual({ write: true, createdByUs: false });
    const without = writeRight('Secret', 's', { metadata: {} }, owner, 'Merge');
    expect(without).toMatchObject({ write: false, reason: 'SecretConflict' });
    expect(!without.write && without.message).toContain(`${MERGE_FROM_ANNOTATION}=app`);
    expect(writeRight('Secret', 's', { metadata: { annotations: { [MERGE_FROM_ANNOTATION]: 'app' } } }, owner, 'Owner')).toMatchObject({ write: false });
  });

  it('never writes service-account token, bootstrap token or Helm release Secrets', () => {
    for (const type of ['kubernetes.io/service-account-token', 'bootstrap.kubernetes.io/token', 'helm.sh/release.v1']) {
      expect(writeRight('Secret', 's', { type, metadata: { annotations: { [MERGE_FROM_ANNOTATION]: 'app' } } }, owner, 'Merge')).toMatchObject({ write: false, reason: 'SecretProtected' });
    }
  });
});

describe('fieldManagerFor', () => {
  it('is one manager per KeyVaultSync, within the 128-character limit', () => {
    expect(fieldManagerFor('shop', 'app')).toBe('kvsync/shop/app');
    expect(fieldManagerFor('shop', 'app')).not.toBe(fieldManagerFor('shop', 'app2'));
    const long = fieldManagerFor('n'.repeat(63), 'a'.repeat(253));
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long).not.toBe(fieldManagerFor('n'.repeat(63), `${'a'.repeat(252)}b`));
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

  it('Orphan: no owner reference; the owner-uid annotation proves who created it', () => {
    const m = appliedMetadata('s', owner, { ...out, creationPolicy: 'Orphan' }, true);
    expect(m.ownerReferences).toBeUndefined();
    expect(m.annotations).toEqual({ a: 'b', [OWNER_UID_ANNOTATION]: 'uid-1' });
  });

  it('Merge into a foreign Secret: no owner reference and no managed-by claim', () => {
    const m = appliedMetadata('s', owner, { ...out, creationPolicy: 'Merge' }, false);
    expect(m.ownerReferences).toBeUndefined();
    expect(m.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
    expect(m.labels?.[SYNC_LABEL]).toBe('app');
    expect(m.annotations).toEqual({ a: 'b' });
  });
});

describe('holds', () => {
  const metadata = appliedMetadata('s', owner, { labels: { team: 'shop' }, annotations: { a: 'b' }, creationPolicy: 'Owner' }, true);
  const applied: k8s.V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', data: { k: 'dg==' } };
  const live = (): k8s.V1Secret => ({
    ...structuredClone(applied),
    metadata: { ...structuredClone(metadata), resourceVersion: '7', labels: { ...metadata.labels, extra: 'theirs' }, managedFields: [{ manager: fieldManagerFor('shop', 'app'), operation: 'Apply' }] },
  });

  it('is true when the object holds the applied type, exactly its data, and its labels, annotations and owner reference (other fields may be there)', () => {
    expect(holds(live(), applied)).toBe(true);
  });

  it('is false when anything applied differs or is missing', () => {
    const cases: ((s: k8s.V1Secret) => void)[] = [
      (s) => void (s.data = { k: 'dw==' }),
      (s) => void (s.data = { k: 'dg==', old: 'eA==' }),
      (s) => void (s.data = {}),
      (s) => void (s.type = 'kubernetes.io/tls'),
      (s) => void delete s.metadata!.labels!.team,
      (s) => void (s.metadata!.annotations = {}),
      (s) => void (s.metadata!.ownerReferences = []),
      (s) => void (s.metadata!.ownerReferences = [{ ...s.metadata!.ownerReferences![0]!, uid: 'uid-2' }]),
      // Fields of the legacy single manager are released by the next apply.
      (s) => void s.metadata!.managedFields!.push({ manager: 'kvsync', operation: 'Apply' }),
    ];
    for (const change of cases) {
      const s = live();
      change(s);
      expect(holds(s, applied), change.toString()).toBe(false);
    }
  });
});

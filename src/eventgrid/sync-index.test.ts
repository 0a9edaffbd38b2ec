import { describe, expect, it } from 'vitest';
import type { KeyVaultSyncObject } from '../controller/reconciler.ts';
import { SyncIndex, vaultNameOfUrl } from './sync-index.ts';

function kvs(name: string, vault: Record<string, unknown>, objects: Record<string, unknown>[], generation = 1): KeyVaultSyncObject {
  return {
    apiVersion: 'kvsync.dev/v1alpha1',
    kind: 'KeyVaultSync',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, generation },
    spec: {
      vault: { tenantID: '00000000-0000-0000-0000-000000000000', ...vault },
      identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } },
      objects,
      secretObjects: [{ secretName: `${name}-out`, type: 'Opaque', data: objects.map((o) => ({ objectName: (o.alias ?? o.name) as string })) }],
    },
  };
}

describe('SyncIndex', () => {
  const syncs: KeyVaultSyncObject[] = [
    kvs('by-name', { name: 'GebaKV' }, [{ name: 'db', type: 'secret' }, { name: 'nginx', type: 'certificate', alias: 'tls' }]),
    kvs('by-url', { url: 'https://gebakv.vault.azure.net' }, [{ name: 'nginx', type: 'secret' }]),
    kvs('pinned', { name: 'gebakv' }, [{ name: 'db', type: 'secret', version: 'abc' }]),
    kvs('other-vault', { name: 'otherkv' }, [{ name: 'db', type: 'secret' }]),
    kvs('key-user', { name: 'gebakv' }, [{ name: 'nginx', type: 'key' }]),
    { apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'broken', namespace: 'ns', uid: 'uid-broken', generation: 1 }, spec: { nonsense: true } },
  ];
  const index = new SyncIndex(() => syncs);

  it('finds KeyVaultSyncs by vault name or URL and object, case-insensitively', () => {
    expect(index.affected({ vaultName: 'gebakv', objectType: 'Secret', objectName: 'DB' })).toEqual(['ns/by-name']);
  });

  it('lets a certificate change reach secret-, certificate- and key-typed objects of the name', () => {
    expect(index.affected({ vaultName: 'gebakv', objectType: 'Certificate', objectName: 'nginx' })).toEqual(['ns/by-name', 'ns/by-url', 'ns/key-user']);
    // A new backing-secret version concerns certificate and secret objects, not keys.
    expect(index.affected({ vaultName: 'gebakv', objectType: 'Secret', objectName: 'nginx' })).toEqual(['ns/by-name', 'ns/by-url']);
  });

  it('skips pinned versions, other vaults and unparsable specs', () => {
    expect(index.affected({ vaultName: 'otherkv', objectType: 'Secret', objectName: 'db' })).toEqual(['ns/other-vault']);
    expect(index.affected({ vaultName: 'gebakv', objectType: 'Secret', objectName: 'nothing' })).toEqual([]);
  });

  it('re-parses a KeyVaultSync when its generation changes', () => {
    const list = [kvs('a', { name: 'gebakv' }, [{ name: 'one', type: 'secret' }])];
    const ix = new SyncIndex(() => list);
    expect(ix.affected({ vaultName: 'gebakv', objectType: 'Secret', objectName: 'two' })).toEqual([]);
    list[0] = kvs('a', { name: 'gebakv' }, [{ name: 'two', type: 'secret' }], 2);
    expect(ix.affected({ vaultName: 'gebakv', objectType: 'Secret', objectName: 'two' })).toEqual(['ns/a']);
  });

  it('names a vault by its URL host', () => {
    expect(vaultNameOfUrl('https://GebaKV.vault.azure.net:8443/')).toBe('gebakv');
    expect(vaultNameOfUrl('not a url')).toBeUndefined();
  });
});

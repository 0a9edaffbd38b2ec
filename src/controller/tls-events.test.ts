import { describe, expect, it } from 'vitest';
import type { KeyVaultSyncStatus } from '../api/index.ts';
import { tlsSourceEvents } from './tls-events.ts';

const spec = { objects: [{ name: 'shop-tls', type: 'certificate', alias: 'cert-0' }], secretObjects: [{ secretName: 'web-tls', data: [{ objectName: 'cert-0' }] }] };
const ready = (status: 'True' | 'False', reason = 'Synced', message = 'ok'): KeyVaultSyncStatus['conditions'] => [{ type: 'Ready', status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' }];
const synced = (mac: string, version: string): KeyVaultSyncStatus => ({ conditions: ready('True'), secrets: [{ name: 'web-tls', dataMAC: mac }], objects: [{ name: 'cert-0', version }] });

describe('tlsSourceEvents', () => {
  it('a Secret first in status was created; a changed MAC is a rotation naming the new version', () => {
    expect(tlsSourceEvents({ spec }, { spec, status: synced('m1', 'v1') })).toEqual([{ type: 'Normal', reason: 'TLSSecretCreated', message: 'created Secret web-tls (kubernetes.io/tls) from Key Vault certificate shop-tls version v1' }]);
    expect(tlsSourceEvents({ spec, status: synced('m1', 'v1') }, { spec, status: synced('m2', 'v2') })).toEqual([{ type: 'Normal', reason: 'TLSSecretRotated', message: 'Secret web-tls now holds Key Vault certificate shop-tls version v2' }]);
  });

  it('a status write that changes no Secret says nothing', () => {
    expect(tlsSourceEvents({ spec, status: synced('m1', 'v1') }, { spec, status: { ...synced('m1', 'v1'), lastSyncTime: '2026-01-02T00:00:00Z' } })).toEqual([]);
  });

  it('a refusal is a Warning with the condition reason, once per distinct refusal', () => {
    const failed = { ...synced('m1', 'v1'), conditions: ready('False', 'SecretConflict', 'Secret web-tls exists and was not created by kvsync') } as KeyVaultSyncStatus;
    expect(tlsSourceEvents({ spec, status: synced('m1', 'v1') }, { spec, status: failed })).toEqual([{ type: 'Warning', reason: 'SecretConflict', message: 'the TLS Secret is not synced: Secret web-tls exists and was not created by kvsync' }]);
    expect(tlsSourceEvents({ spec, status: failed }, { spec, status: failed })).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { PushRefresher } from './push-refresh.ts';
import { CERTIFICATE_NEW_VERSION_CREATED, SECRET_NEW_VERSION_CREATED, type KeyVaultObjectChange } from './schema.ts';

const change = (over: Partial<KeyVaultObjectChange> = {}): KeyVaultObjectChange => ({
  eventId: 'e1', type: SECRET_NEW_VERSION_CREATED, vaultName: 'gebakv', objectType: 'Secret', objectName: 'db', version: 'v1', vaultUrl: 'https://gebakv.vault.azure.net', ...over,
});

describe('PushRefresher', () => {
  it('invalidates, then queues the affected and the pipeline-known KeyVaultSyncs once each', () => {
    const calls: string[] = [];
    const r = new PushRefresher({
      affected: () => ['ns/a', 'ns/b'],
      markChanged: (c) => {
        calls.push(`mark ${c.vaultName}/${c.objectName}@${c.version}`);
        return ['ns/b', 'ns/c'];
      },
      enqueue: (k) => calls.push(`enqueue ${k}`),
    });
    expect(r.handle(change())).toEqual({ outcome: 'refreshed', keys: ['ns/a', 'ns/b', 'ns/c'] });
    expect(calls).toEqual(['mark gebakv/db@v1', 'enqueue ns/a', 'enqueue ns/b', 'enqueue ns/c']);
  });

  it('treats a repeated event id or a repeated object version as a duplicate', () => {
    const queued: string[] = [];
    const r = new PushRefresher({ affected: () => ['ns/a'], enqueue: (k) => queued.push(k) });
    expect(r.handle(change()).outcome).toBe('refreshed');
    expect(r.handle(change()).outcome).toBe('duplicate');
    // The certificate event announcing the same version as its backing secret's event.
    expect(r.handle(change({ eventId: 'e2', type: CERTIFICATE_NEW_VERSION_CREATED, objectType: 'Certificate', objectName: 'DB' })).outcome).toBe('duplicate');
    expect(r.handle(change({ eventId: 'e3', version: 'v2' })).outcome).toBe('refreshed');
    expect(queued).toEqual(['ns/a', 'ns/a']);
  });

  it('reports an object nobody uses as unmatched', () => {
    expect(new PushRefresher({ affected: () => [], enqueue: () => undefined }).handle(change())).toEqual({ outcome: 'unmatched', keys: [] });
  });
});

import { describe, expect, it } from 'vitest';
import type { VaultClients } from './access.ts';
import { listObjectVersions, newerThanPinned, olderVersions } from './versions.ts';

const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe('listObjectVersions', () => {
  it('lists certificate objects through their backing secret, cert objects through the certificate endpoint', async () => {
    const calls: string[] = [];
    const pages = (what: string) => (name: string) => ({
      byPage: async function* () {
        calls.push(`${what} ${name}`);
        await Promise.resolve();
        yield [{ version: 'a', enabled: true, createdOn: at(1), updatedOn: at(1) }, { version: undefined }, { version: 'b', enabled: false }];
      },
    });
    const clients = {
      secrets: { listPropertiesOfSecretVersions: pages('secrets') },
      certificates: { listPropertiesOfCertificateVersions: pages('certificates') },
      keys: { listPropertiesOfKeyVersions: pages('keys') },
    } as unknown as VaultClients;
    for (const type of ['secret', 'certificate', 'cert', 'key'] as const) await listObjectVersions(clients, { type, name: type });
    expect(calls).toEqual(['secrets secret', 'secrets certificate', 'certificates cert', 'keys key']);
    expect(await listObjectVersions(clients, { type: 'secret', name: 'x' })).toEqual([
      { version: 'a', enabled: true, createdOn: at(1), updatedOn: at(1) },
      { version: 'b', enabled: false, createdOn: undefined, updatedOn: undefined },
    ]);
  });
});

describe('olderVersions', () => {
  it('never takes the newest from the listing: the current version is excluded, the rest newest first', () => {
    // Listed by version id (Key Vault's order); the current one ("c1") has the lowest id.
    const listed = [
      { version: 'c1', createdOn: at(5) },
      { version: 'd0', createdOn: at(3) },
      { version: 'e9', createdOn: at(4) },
      { version: 'f2', createdOn: at(1), enabled: false },
    ];
    expect(olderVersions(listed, 'c1', 5)).toEqual(['e9', 'd0']);
    expect(olderVersions(listed, 'C1', 1)).toEqual(['e9']);
  });

  it('leaves out versions created after the current one was read', () => {
    const listed = [{ version: 'a', createdOn: at(2) }, { version: 'b', createdOn: at(9) }, { version: 'c', createdOn: at(1) }];
    expect(olderVersions(listed, 'a', 5)).toEqual(['c']);
  });
});

describe('newerThanPinned', () => {
  it('tells from the listing when it can, and says "unknown" for versions sharing the pinned second', () => {
    expect(newerThanPinned([{ version: 'a', createdOn: at(1) }, { version: 'b', createdOn: at(2) }], 'a')).toEqual({ newer: { version: 'b', createdOn: at(2) } });
    expect(newerThanPinned([{ version: 'a', createdOn: at(2) }, { version: 'b', createdOn: at(1) }], 'a')).toEqual({ newer: undefined });
    expect(newerThanPinned([{ version: 'a', createdOn: at(1) }, { version: 'b', createdOn: at(1) }], 'b')).toBeUndefined();
    expect(newerThanPinned([{ version: 'a', createdOn: at(1) }, { version: 'b', createdOn: at(2), enabled: false }], 'a')).toEqual({ newer: undefined });
    expect(newerThanPinned([{ version: 'b', createdOn: at(2) }], 'gone')).toEqual({ newer: { version: 'b', createdOn: at(2) } });
  });
});

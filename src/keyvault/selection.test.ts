import { describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../api/parse.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { isSyncError } from './errors.ts';
import type { ListedVersion } from './fetch.ts';
import { globMatches, selectObjects } from './selection.ts';

function resolve(spec: Record<string, unknown>): ResolvedKeyVaultSync {
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 't', namespace: 'ns' }, spec: { vault: { name: 'devkv', tenantID: '00000000-0000-0000-0000-000000000000' }, identity: { workloadIdentity: { serviceAccountName: 'sa' } }, ...spec } });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function listed(items: Partial<ListedVersion>[]): Map<string, ListedVersion> {
  return new Map(items.map((i) => [i.name!.toLowerCase(), { version: undefined, updatedOn: undefined, enabled: true, name: i.name!, tags: {}, contentType: undefined, managed: false, ...i }]));
}

const VAULT = listed([
  { name: 'app-db', tags: { team: 'shop' } },
  { name: 'App-Cache', tags: { team: 'shop', env: 'prod' } },
  { name: 'app-off', enabled: false },
  { name: 'other', tags: { team: 'shop' } },
  { name: 'app-tls', managed: true, contentType: 'application/x-pkcs12', tags: { team: 'shop' } },
  { name: 'app-pem', managed: true, contentType: 'application/x-pem-file' },
]);

function keysOf(sync: ResolvedKeyVaultSync, secret = 0): string[] {
  return (sync.secrets[secret]?.entries ?? []).flatMap((e) => (e.kind === 'key' ? [e.key] : []));
}

describe('globMatches', () => {
  it('matches the whole name, case-insensitively, with * and ?', () => {
    expect(globMatches('app-*', 'APP-db')).toBe(true);
    expect(globMatches('app-*', 'my-app-db')).toBe(false);
    expect(globMatches('*-db', 'app-db')).toBe(true);
    expect(globMatches('a?p-*b', 'app-db')).toBe(true);
    expect(globMatches('*', 'anything')).toBe(true);
    expect(globMatches('app', 'app-db')).toBe(false);
    expect(globMatches('*a*a*a*a*a*a*b', 'a'.repeat(127))).toBe(false);
  });
});

describe('selectObjects', () => {
  it('adds each enabled match as an optional object and a key: <prefix><name> for secrets, <prefix><name>.pem for certificates', () => {
    const sync = resolve({ secretObjects: [{ secretName: 'all', select: [{ namePattern: 'app-*' }, { type: 'certificate', namePattern: 'app-*', keyPrefix: 'certs.' }] }] });
    const { sync: out, signature } = selectObjects(sync, VAULT);
    expect(keysOf(out)).toEqual(['App-Cache', 'app-db', 'certs.app-pem.pem', 'certs.app-tls.pem']);
    expect(out.objects.map((o) => [o.type, o.name, o.optional, o.source])).toEqual([
      ['secret', 'App-Cache', true, 'select'],
      ['secret', 'app-db', true, 'select'],
      ['certificate', 'app-pem', true, 'select'],
      ['certificate', 'app-tls', true, 'select'],
    ]);
    expect(signature).toBe('select:secret:app-cache\nselect:secret:app-db\nselect:certificate:app-pem\nselect:certificate:app-tls');
  });

  it('requires every tag with its value, and combines tags with the pattern', () => {
    const sync = resolve({ secretObjects: [{ secretName: 'a', select: [{ tags: { team: 'shop' } }] }, { secretName: 'b', select: [{ namePattern: 'app-*', tags: { env: 'prod' } }] }] });
    const { sync: out } = selectObjects(sync, VAULT);
    expect(keysOf(out, 0)).toEqual(['app-db', 'App-Cache', 'other'].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
    expect(keysOf(out, 1)).toEqual(['App-Cache']);
  });

  it('keeps declared entries and refuses a selected key that one of them writes', () => {
    const base = { objects: [{ name: 'db-password', alias: 'app-db' }] };
    const ok = selectObjects(resolve({ ...base, secretObjects: [{ secretName: 's', data: [{ objectName: 'app-db', key: 'DB' }], select: [{ namePattern: 'app-*' }] }] }), VAULT);
    expect(keysOf(ok.sync)).toEqual(['DB', 'App-Cache', 'app-db']);
    let err: unknown;
    try {
      selectObjects(resolve({ ...base, secretObjects: [{ secretName: 's', data: [{ objectName: 'app-db' }], select: [{ namePattern: 'app-*' }] }] }), VAULT);
    } catch (e) {
      err = e;
    }
    expect(isSyncError(err) && err.reason).toBe('InvalidSpec');
    expect((err as Error).message).toContain('would write key "app-db", which another entry of the Secret writes');
  });

  it('selects an object once when two selectors match it under the same key', () => {
    const { sync: out } = selectObjects(resolve({ secretObjects: [{ secretName: 's', select: [{ namePattern: 'app-db' }, { tags: { team: 'shop' }, namePattern: 'app-d*' }] }] }), VAULT);
    expect(keysOf(out)).toEqual(['app-db']);
    expect(out.objects).toHaveLength(1);
  });

  it('refuses a selection past the per-sync read budget', () => {
    const many = listed(Array.from({ length: 300 }, (_, i) => ({ name: `s${i}` })));
    expect(() => selectObjects(resolve({ secretObjects: [{ secretName: 's', select: [{ namePattern: 's*' }] }] }), many)).toThrow(/more than the 256 object versions/);
  });

  it('leaves a KeyVaultSync without selectors as it is', () => {
    const sync = resolve({ objects: [{ name: 'x' }], secretObjects: [{ secretName: 's', data: [{ objectName: 'x' }] }] });
    expect(selectObjects(sync, VAULT)).toEqual({ sync, signature: '' });
  });
});

/** CertificateWatch: expiry and newer-version warnings, once each, and the gauges (unit tests, stand-ins). */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseKeyVaultSync, type ResolvedKeyVaultSync } from '../api/index.ts';
import { designExampleSpec, keyVaultSync } from '../api/testing/fixtures.ts';
import { CertificateWatch, relativeTime, type CertificateState } from './certificate-watch.ts';
import type { EventRecorder } from './events.ts';
import type { PipelineFetchedObject } from './pipeline.ts';
import type { SyncedContext } from './sync-observer.ts';

const NOW = new Date('2026-11-24T00:00:00Z');
const DAY = 86_400_000;

function resolved(pin?: string): ResolvedKeyVaultSync {
  const spec = designExampleSpec();
  if (pin !== undefined) spec.objects = [{ name: 'nginx', type: 'certificate', version: pin }, { name: 'db-password', type: 'secret', alias: 'password' }];
  const r = parseKeyVaultSync(keyVaultSync(spec));
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function fetched(sync: ResolvedKeyVaultSync, certVersion: string, expiresInDays: number): PipelineFetchedObject[] {
  return sync.objects.map((object) => ({
    object,
    version: object.type === 'certificate' ? certVersion : 'v-secret',
    contentType: undefined,
    updatedOn: undefined,
    expiresOn: object.type === 'certificate' ? new Date(NOW.getTime() + expiresInDays * DAY) : undefined,
  }));
}

function harness(opts: { versions?: { version: string; createdOn: Date | undefined }[]; current?: string; listError?: boolean; windowDays?: number } = {}) {
  const events: { type: string; reason: string; message: string }[] = [];
  const states: ReadonlyMap<string, CertificateState>[] = [];
  let listings = 0;
  let now = NOW;
  const recorder: EventRecorder = { record: (_t, type, reason, message) => Promise.resolve(void events.push({ type, reason, message })) };
  const watch = new CertificateWatch({
    events: recorder,
    log: pino({ level: 'silent' }),
    now: () => now,
    ...(opts.windowDays === undefined ? {} : { windowMs: opts.windowDays * DAY }),
    checkIntervalMs: 3600_000,
    metrics: { setCertificateStates: (_ns, _kvs, s) => void states.push(s) },
    versions: {
      listVersions: () => {
        listings++;
        return opts.listError === true ? Promise.reject(new Error('403')) : Promise.resolve(opts.versions ?? []);
      },
      currentVersion: () => (opts.current === undefined ? Promise.reject(new Error('no current version')) : Promise.resolve(opts.current)),
    },
  });
  const ctx = (sync: ResolvedKeyVaultSync, f: PipelineFetchedObject[]): SyncedContext => ({ sync, target: { name: 'example', namespace: 'shop', uid: 'u' }, firstSync: false, secretMacs: new Map(), changedSecrets: [], fetched: f, credential: undefined });
  return { watch, events, states, ctx, listings: () => listings, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

describe('CertificateWatch', () => {
  it('warns once per (object, version) within the window, never for a far certificate, and sets the gauge', async () => {
    const h = harness();
    const sync = resolved();
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 200)));
    expect(h.events).toEqual([]);
    expect(h.states.at(-1)?.get('nginx')).toEqual({ expiring: false, newerVersion: undefined });
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 12)));
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 12)));
    expect(h.events).toEqual([
      { type: 'Warning', reason: 'CertificateExpiring', message: `certificate "nginx" (version v1) expires at ${new Date(NOW.getTime() + 12 * DAY).toISOString()}, in 12 days (warning window 30 days); renew it in Key Vault` },
    ]);
    expect(h.states.at(-1)?.get('nginx')?.expiring).toBe(true);
    expect(h.states.at(-1)?.has('password')).toBe(false);
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v2', 10)));
    expect(h.events.map((e) => e.message)).toHaveLength(2);
    expect(h.listings()).toBe(0);
  });

  it('honours a custom window and says when a certificate has expired', async () => {
    const h = harness({ windowDays: 90 });
    const sync = resolved();
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 60)));
    expect(h.events[0]?.message).toContain('(warning window 90 days)');
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v0', -3)));
    expect(h.events[1]?.message).toContain('expired at');
    expect(h.events[1]?.message).toContain('3 days ago');
  });

  it('for a pinned certificate: NewerVersionAvailable once, from at most one listing per interval', async () => {
    const h = harness({ versions: [{ version: 'v1', createdOn: new Date('2026-01-01T00:00:00Z') }, { version: 'v2', createdOn: new Date('2026-06-01T00:00:00Z') }] });
    const sync = resolved('v1');
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 200)));
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 200)));
    expect(h.listings()).toBe(1);
    expect(h.events.map((e) => [e.reason, e.message])).toEqual([
      ['NewerVersionAvailable', 'certificate "nginx" is pinned to version v1; Key Vault holds a newer enabled version v2, created 2026-06-01T00:00:00.000Z. Update spec.objects[].version (or objectVersion in parameters) to use it'],
    ]);
    expect(h.states.at(-1)?.get('nginx')).toEqual({ expiring: false, newerVersion: true });
    h.advance(3600_000);
    await h.watch.synced(h.ctx(sync, fetched(sync, 'v1', 200)));
    expect(h.listings()).toBe(2);
    expect(h.events).toHaveLength(1);
  });

  it('no warning when the pinned version is the newest; a failed listing is no warning and waits an interval', async () => {
    const newest = harness({ versions: [{ version: 'v0', createdOn: new Date('2025-01-01T00:00:00Z') }, { version: 'v1', createdOn: new Date('2026-01-01T00:00:00Z') }] });
    const sync = resolved('v1');
    await newest.watch.synced(newest.ctx(sync, fetched(sync, 'v1', 200)));
    expect(newest.events).toEqual([]);
    expect(newest.states.at(-1)?.get('nginx')?.newerVersion).toBe(false);
    const failing = harness({ listError: true });
    await failing.watch.synced(failing.ctx(sync, fetched(sync, 'v1', 200)));
    await failing.watch.synced(failing.ctx(sync, fetched(sync, 'v1', 200)));
    expect(failing.listings()).toBe(1);
    expect(failing.events).toEqual([]);
    expect(failing.states.at(-1)?.get('nginx')?.newerVersion).toBeUndefined();
  });

  it('within one second of creation, the version Key Vault says is current is the newer (the listing order says nothing)', async () => {
    const second = new Date('2026-06-01T00:00:00Z');
    // Listed by version id, as Key Vault lists them: v1 before v2, whichever is newer.
    const listed = [{ version: 'v1', createdOn: second }, { version: 'v2', createdOn: second }];
    const v1Current = harness({ versions: listed, current: 'v1' });
    const sync = resolved('v2');
    await v1Current.watch.synced(v1Current.ctx(sync, fetched(sync, 'v2', 200)));
    expect(v1Current.events.map((e) => e.reason)).toEqual(['NewerVersionAvailable']);
    expect(v1Current.events[0]?.message).toContain('newer enabled version v1');
    const pinnedCurrent = harness({ versions: listed, current: 'v1' });
    const sync1 = resolved('v1');
    await pinnedCurrent.watch.synced(pinnedCurrent.ctx(sync1, fetched(sync1, 'v1', 200)));
    expect(pinnedCurrent.events).toEqual([]);
    expect(pinnedCurrent.states.at(-1)?.get('nginx')?.newerVersion).toBe(false);
  });

  it('relativeTime', () => {
    expect(relativeTime(12 * DAY + 5)).toBe('in 12 days');
    expect(relativeTime(5 * 3600_000)).toBe('in 5 hours');
    expect(relativeTime(-90_000)).toBe('1 minutes ago');
  });
});

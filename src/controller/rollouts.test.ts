import { createHmac } from 'node:crypto';
/**
 * Which workloads a data change rolls, the annotation value, and the RolloutTrigger against an
 * in-test WorkloadApi (unit tests; test/integration/controller/rollouts.test.ts runs it on the real
 * control plane).
 */
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseKeyVaultSync, type ResolvedKeyVaultSync } from '../api/index.ts';
import { designExampleSpec, keyVaultSync } from '../api/testing/fixtures.ts';
import type { EventRecorder } from './events.ts';
import { dataMac } from './mac.ts';
import { RELOAD_ANNOTATION, RESTARTED_FOR_ANNOTATION, RolloutTrigger, planRollouts, rolloutValue, type Workload, type WorkloadApi, type WorkloadKind } from './rollouts.ts';
import { dataChanges, type SyncedContext } from './sync-observer.ts';
import { secretsInjectedFrom, secretsReferencedBy } from './workload-refs.ts';

const KEY = Buffer.alloc(32, 7);

function resolved(spec: Record<string, unknown> = designExampleSpec()): ResolvedKeyVaultSync {
  const r = parseKeyVaultSync(keyVaultSync(spec));
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function workload(kind: WorkloadKind, name: string, opts: { labels?: Record<string, string>; annotations?: Record<string, string>; template?: V1PodTemplateSpec } = {}): Workload {
  return { kind, name, labels: opts.labels ?? {}, annotations: opts.annotations ?? {}, template: opts.template ?? { spec: { containers: [{ name: 'app' }] } } };
}

const envFromTemplate = (secret: string): V1PodTemplateSpec => ({ spec: { containers: [{ name: 'app', envFrom: [{ secretRef: { name: secret } }] }] } });
const macs = (db: string, tls: string): Map<string, string> => new Map([['shop-tls', tls], ['shop-db', db]]);

describe('secret references of a pod template', () => {
  it('finds env secretKeyRef, envFrom, secret and projected volumes in containers and init containers', () => {
    const t: V1PodTemplateSpec = {
      spec: {
        initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 'a' } }, { configMapRef: { name: 'cm' } }] }],
        containers: [{ name: 'app', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'b', key: 'k' } } }, { name: 'Y', value: 'plain' }] }],
        volumes: [{ name: 'v1', secret: { secretName: 'c' } }, { name: 'v2', projected: { sources: [{ secret: { name: 'd' } }, { configMap: { name: 'cm2' } }] } }],
      },
    };
    expect([...secretsReferencedBy(t)].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('maps webhook env injection (kvsync:, akv2k8s form, env-from annotation) to the KeyVaultSync Secrets it reads', () => {
    const sync = resolved();
    const env = (value: string): V1PodTemplateSpec => ({ spec: { containers: [{ name: 'app', env: [{ name: 'X', value }] }] } });
    expect([...secretsInjectedFrom(env('kvsync:example/password'), sync, 'shop')]).toEqual(['shop-db']);
    expect([...secretsInjectedFrom(env('kvsync:shop/example/password'), sync, 'shop')]).toEqual(['shop-db']);
    expect([...secretsInjectedFrom(env('kvsync:other/example/password'), sync, 'shop')]).toEqual([]);
    expect([...secretsInjectedFrom(env('kvsync:another/password'), sync, 'shop')]).toEqual([]);
    expect([...secretsInjectedFrom(env('kvsync:example/no-such-alias'), sync, 'shop')]).toEqual([]);
    expect([...secretsInjectedFrom(env('example@azurekeyvault?DB_PASSWORD'), sync, 'shop')]).toEqual(['shop-db']);
    expect([...secretsInjectedFrom(env('kvsync:bad//x'), sync, 'shop')]).toEqual([]);
    const annotated: V1PodTemplateSpec = { metadata: { annotations: { 'kvsync.dev/env-from': 'other, example' } }, spec: { containers: [{ name: 'app' }] } };
    expect([...secretsInjectedFrom(annotated, sync, 'shop')].sort()).toEqual(['shop-db', 'shop-tls']);
  });
});

describe('planRollouts', () => {
  const sync = resolved({ ...designExampleSpec(), restartTargets: [{ kind: 'Deployment', name: 'web' }, { kind: 'StatefulSet', selector: { matchLabels: { tier: 'db' } } }, { kind: 'DaemonSet', name: 'gone' }] });
  const workloads = [
    workload('Deployment', 'web'),
    workload('Deployment', 'other'),
    workload('StatefulSet', 'pg', { labels: { tier: 'db' } }),
    workload('StatefulSet', 'cache', { labels: { tier: 'cache' } }),
    workload('Deployment', 'reloader', { annotations: { [RELOAD_ANNOTATION]: 'true' }, template: envFromTemplate('shop-db') }),
    workload('Deployment', 'no-opt-in', { template: envFromTemplate('shop-db') }),
    workload('Deployment', 'reloader-other-secret', { annotations: { [RELOAD_ANNOTATION]: 'true' }, template: envFromTemplate('shop-tls') }),
    workload('DaemonSet', 'injected', { template: { spec: { containers: [{ name: 'app', env: [{ name: 'P', value: 'kvsync:example/password' }] }] } } }),
  ];

  it('rolls restart targets (by name and selector), reload-annotated users of a changed Secret and env-injected workloads; reports missing targets', () => {
    const plan = planRollouts({ sync, namespace: 'shop', workloads, changedSecrets: ['shop-db'], secretMacs: macs('m-db-2', 'm-tls-1'), macKey: KEY });
    expect(plan.rollouts.map((r) => [r.kind, r.name, r.reasons, r.changed])).toEqual([
      ['Deployment', 'web', ['restartTarget'], ['shop-db']],
      ['StatefulSet', 'pg', ['restartTarget'], ['shop-db']],
      ['Deployment', 'reloader', ['reload'], ['shop-db']],
      ['DaemonSet', 'injected', ['envInjection'], ['shop-db']],
    ]);
    expect(plan.missing).toEqual(['DaemonSet "gone"']);
  });

  it('rolls nothing without a change', () => {
    const plan = planRollouts({ sync, namespace: 'shop', workloads, changedSecrets: [], secretMacs: macs('m-db-2', 'm-tls-1'), macKey: KEY });
    expect(plan).toEqual({ rollouts: [], alreadyRolled: [], missing: [] });
  });

  it('skips a workload whose template already carries the value for this data (never twice for one change)', () => {
    const first = planRollouts({ sync, namespace: 'shop', workloads, changedSecrets: ['shop-db'], secretMacs: macs('m-db-2', 'm-tls-1'), macKey: KEY });
    const rolled = workloads.map((w) => {
      const r = first.rollouts.find((x) => x.kind === w.kind && x.name === w.name);
      return r === undefined ? w : { ...w, template: { ...w.template, metadata: { annotations: { [RESTARTED_FOR_ANNOTATION]: r.value } } } };
    });
    const again = planRollouts({ sync, namespace: 'shop', workloads: rolled, changedSecrets: ['shop-db'], secretMacs: macs('m-db-2', 'm-tls-1'), macKey: KEY });
    expect(again.rollouts).toEqual([]);
    expect(again.alreadyRolled).toEqual(['Deployment web', 'StatefulSet pg', 'Deployment reloader', 'DaemonSet injected']);
    const next = planRollouts({ sync, namespace: 'shop', workloads: rolled, changedSecrets: ['shop-db'], secretMacs: macs('m-db-3', 'm-tls-1'), macKey: KEY });
    expect(next.rollouts.map((r) => r.name)).toEqual(['web', 'pg', 'reloader', 'injected']);
  });
});

describe('rolloutValue', () => {
  it('is stable for the same data, differs for other data, other keys and other KeyVaultSyncs, and shows no MAC', () => {
    const a = rolloutValue(KEY, 'example', ['shop-db', 'shop-tls'], macs('m1', 'm2'));
    expect(rolloutValue(KEY, 'example', ['shop-tls', 'shop-db', 'shop-db'], macs('m1', 'm2'))).toBe(a);
    expect(rolloutValue(KEY, 'example', ['shop-db', 'shop-tls'], macs('m1', 'm3'))).not.toBe(a);
    expect(rolloutValue(Buffer.alloc(32, 8), 'example', ['shop-db', 'shop-tls'], macs('m1', 'm2'))).not.toBe(a);
    expect(rolloutValue(KEY, 'other', ['shop-db', 'shop-tls'], macs('m1', 'm2')).split(':')[1]).not.toBe(a.split(':')[1]);
    expect(a).toMatch(/^example:[0-9a-f]{20}$/);
  });
});

describe('dataChanges', () => {
  const secret = (name: string, value: string) => ({ name, type: 'Opaque' as const, labels: {}, annotations: {}, creationPolicy: 'Owner' as const, data: { k: Buffer.from(value) } });
  const mac = (name: string, value: string) => dataMac(KEY, { namespace: 'shop', name, type: 'Opaque' }, { k: Buffer.from(value) });

  it('is a first sync without a recorded successful sync, and then never a change', () => {
    const c = dataChanges(undefined, 'shop', [secret('a', 'v1')], KEY);
    expect(c.firstSync).toBe(true);
    expect(c.changedSecrets).toEqual([]);
    expect(dataChanges({ conditions: [] }, 'shop', [secret('a', 'v1')], KEY).firstSync).toBe(true);
  });

  it('lists only Secrets whose data MAC differs from the recorded one (a new Secret is not a change)', () => {
    const previous = { lastSyncTime: '2026-11-24T00:00:00Z', secrets: [{ name: 'a', dataMAC: mac('a', 'v1') }, { name: 'b', dataMAC: mac('b', 'same') }] };
    const c = dataChanges(previous, 'shop', [secret('a', 'v2'), secret('b', 'same'), secret('new', 'x')], KEY);
    expect(c.firstSync).toBe(false);
    expect(c.changedSecrets).toEqual(['a']);
    expect(c.secretMacs.get('a')).toBe(mac('a', 'v2'));
    expect(dataChanges(previous, 'shop', [secret('a', 'v1'), secret('b', 'same')], KEY).changedSecrets).toEqual([]);
  });

  it('sees no change in a status an earlier release wrote (data-only MACs): an upgrade rolls nothing', () => {
    // hmac-sha256 (KEY) over the length-prefixed pair ("k", "v1"), as releases before the binding wrote it.
    const legacy = createHmac('sha256', KEY).update(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1])).update('k').update(Buffer.from([0, 0, 0, 0, 0, 0, 0, 2])).update('v1').digest('hex');
    const previous = { lastSyncTime: '2026-11-24T00:00:00Z', secrets: [{ name: 'a', dataMAC: `hmac-sha256:${legacy}` }] };
    expect(dataChanges(previous, 'shop', [secret('a', 'v1')], KEY).changedSecrets).toEqual([]);
    expect(dataChanges(previous, 'shop', [secret('a', 'v2')], KEY).changedSecrets).toEqual(['a']);
  });
});

describe('RolloutTrigger', () => {
  function harness(workloads: Workload[], opts: { failPatch?: string } = {}) {
    const patches: string[] = [];
    const events: { type: string; reason: string; message: string }[] = [];
    const counted: string[] = [];
    const api: WorkloadApi = {
      list: (_ns, kind) => Promise.resolve(workloads.filter((w) => w.kind === kind)),
      setTemplateAnnotation: (_ns, kind, name, key, value) => {
        if (name === opts.failPatch) return Promise.reject(new Error('boom'));
        patches.push(`${kind}/${name} ${key}=${value}`);
        return Promise.resolve();
      },
    };
    const recorder: EventRecorder = { record: (_t, type, reason, message) => Promise.resolve(void events.push({ type, reason, message })) };
    const trigger = new RolloutTrigger({ api, events: recorder, macKey: KEY, isLeader: () => true, log: pino({ level: 'silent' }), metrics: { restartTriggered: (ns, kind) => void counted.push(`${ns}/${kind}`) } });
    return { trigger, patches, events, counted };
  }
  const ctx = (over: Partial<SyncedContext>): SyncedContext => ({
    sync: resolved(),
    target: { name: 'example', namespace: 'shop', uid: 'u' },
    firstSync: false,
    secretMacs: macs('m-db-2', 'm-tls-1'),
    changedSecrets: ['shop-db'],
    fetched: [],
    credential: undefined,
    ...over,
  });

  it('never rolls on a first sync or without a change', async () => {
    const h = harness([workload('Deployment', 'web')]);
    await h.trigger.synced(ctx({ firstSync: true, changedSecrets: [] }));
    await h.trigger.synced(ctx({ changedSecrets: [] }));
    expect(h.patches).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('rolls, counts and records RolledOut naming the workload and the Secret (never a value); a missing target is a Warning', async () => {
    const h = harness([workload('Deployment', 'web'), workload('Deployment', 'reloader', { annotations: { [RELOAD_ANNOTATION]: 'true' }, template: envFromTemplate('shop-db') })]);
    await h.trigger.synced(ctx({ sync: resolved({ ...designExampleSpec(), restartTargets: [{ kind: 'Deployment', name: 'web' }, { kind: 'StatefulSet', name: 'db' }] }) }));
    expect(h.patches).toHaveLength(2);
    expect(h.patches[0]).toMatch(/^Deployment\/web kvsync\.dev\/restarted-for=example:[0-9a-f]{20}$/);
    expect(h.counted).toEqual(['shop/Deployment', 'shop/Deployment']);
    expect(h.events).toEqual([
      { type: 'Warning', reason: 'RestartTargetNotFound', message: 'restartTargets: no StatefulSet "db" in namespace shop; nothing rolled for it' },
      { type: 'Normal', reason: 'RolledOut', message: 'rolled Deployment web, Deployment reloader: data of Secret shop-db changed' },
    ]);
  });

  it('a refused listing is a Warning RolloutFailed naming the kind; an unexpected error never escapes', async () => {
    const events: string[] = [];
    const api: WorkloadApi = { list: (_ns, kind) => (kind === 'StatefulSet' ? Promise.reject(new Error('forbidden')) : Promise.resolve([])), setTemplateAnnotation: () => Promise.resolve() };
    const recorder: EventRecorder = { record: (_t, type, reason, message) => Promise.resolve(void events.push(`${type} ${reason} ${message}`)) };
    await new RolloutTrigger({ api, events: recorder, macKey: KEY, isLeader: () => true, log: pino({ level: 'silent' }) }).synced(ctx({ sync: resolved({ ...designExampleSpec(), restartTargets: [] }) }));
    expect(events).toEqual(['Warning RolloutFailed listing StatefulSets in namespace shop failed; workloads of that kind were not rolled']);
    const throwing: EventRecorder = { record: () => Promise.reject(new Error('unexpected')) };
    await expect(new RolloutTrigger({ api, events: throwing, macKey: KEY, isLeader: () => true, log: pino({ level: 'silent' }) }).synced(ctx({}))).resolves.toBeUndefined();
  });

  it('a failed patch is a Warning RolloutFailed; the others are still rolled', async () => {
    const h = harness([workload('Deployment', 'web'), workload('Deployment', 'reloader', { annotations: { [RELOAD_ANNOTATION]: 'true' }, template: envFromTemplate('shop-db') })], { failPatch: 'web' });
    await h.trigger.synced(ctx({}));
    expect(h.patches.map((p) => p.split(' ')[0])).toEqual(['Deployment/reloader']);
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'RolloutFailed'], ['Normal', 'RolledOut']]);
  });
});

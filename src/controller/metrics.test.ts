/** Metric names and labels after simulated reconciles (reconciler with in-test stand-ins), and `/metrics`. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { designExampleSpec, keyVaultSync } from '../api/testing/fixtures.ts';
import { ObjectCache } from '../keyvault/object-cache.ts';
import { KeyVaultAccess } from '../keyvault/access.ts';
import { keyVaultOperation } from '../keyvault/request-metrics.ts';
import { startHealthServer } from './health.ts';
import { createControllerMetrics, type ControllerMetrics } from './metrics.ts';
import type { DesiredSecret, PipelineFetchedObject, SyncPipeline } from './pipeline.ts';
import { SyncError, TemplateRenderError } from '../keyvault/errors.ts';
import { certificateExpiries } from './certificate-expiries.ts';
import { Reconciler, type KeyVaultSyncObject } from './reconciler.ts';
import { WorkQueue } from './workqueue.ts';

const EXPIRY = new Date('2027-01-01T00:00:00Z');

class Failure extends SyncError {
  constructor(message?: string) {
    super('VaultUnavailable', message ?? 'vault "kv" is unavailable');
  }
}

function reconcilerWith(metrics: ControllerMetrics, state: { fail: boolean; present: boolean; templateFails?: boolean }): Reconciler {
  const obj: KeyVaultSyncObject = { ...(keyVaultSync(designExampleSpec()) as KeyVaultSyncObject), metadata: { name: 'example', namespace: 'shop', uid: 'u-1', generation: 1 } };
  const pipeline: SyncPipeline = {
    credentialFor: () => Promise.resolve({ credential: {}, identityKey: 'k' }),
    fetchShared: (sync) =>
      state.fail
        ? Promise.reject(new Failure('vault down'))
        : Promise.resolve({ fetched: sync.objects.map((object): PipelineFetchedObject => ({ object, version: 'v1', contentType: undefined, updatedOn: undefined, expiresOn: EXPIRY })), failures: [] }),
    renderOutputs: (sync) => {
      if (state.templateFails === true) throw new TemplateRenderError('not_text', 'Secret "db" key "config.json": the template cannot encode it');
      return {
        secrets: sync.secrets.map((s): DesiredSecret => ({ name: s.name, type: s.type, labels: {}, annotations: {}, creationPolicy: s.creationPolicy, data: { k: Buffer.from('top-secret-value') } })),
        configMaps: [],
      };
    },
  };
  return new Reconciler({
    getSync: (ns, name) => (state.present && ns === 'shop' && name === 'example' ? obj : undefined),
    listIdentities: () => [],
    pipeline,
    writer: { check: () => Promise.resolve(), applySecret: () => Promise.resolve('created' as const), applyConfigMap: () => Promise.resolve('created' as const), prune: () => Promise.resolve('absent' as const) },
    status: { patchStatus: () => Promise.resolve() },
    events: { record: () => Promise.resolve() },
    macKey: Buffer.alloc(32, 1),
    isLeader: () => true,
    log: pino({ level: 'silent' }),
    metrics,
  });
}

describe('controller metrics', () => {
  it('counts syncs by result, times them, and exports and removes certificate expiry series', async () => {
    const metrics = createControllerMetrics(new KeyVaultAccess(), { defaultMetrics: false });
    const state = { fail: false, present: true };
    const reconciler = reconcilerWith(metrics, state);
    await reconciler.reconcile('shop/example');
    state.fail = true;
    await reconciler.reconcile('shop/example');
    await reconciler.reconcile('shop/example');

    let text = (await metrics.scrape()).body;
    expect(text).toContain('kvsync_syncs_total{result="success"} 1');
    expect(text).toContain('kvsync_syncs_total{result="VaultUnavailable"} 2');
    expect(text).toContain('kvsync_sync_duration_seconds_count 3');
    expect(text).toContain(`kvsync_certificate_expiry_timestamp_seconds{namespace="shop",keyvaultsync="example",object="nginx"} ${EXPIRY.getTime() / 1000}`);
    expect(text).not.toContain('top-secret-value');
    // Only certificates get an expiry series.
    const series = text.split('\n').filter((l) => l.startsWith('kvsync_certificate_expiry_timestamp_seconds{'));
    expect(series.every((l) => l.includes('object="nginx"'))).toBe(true);

    // The KeyVaultSync is gone: its series go too.
    state.present = false;
    await reconciler.reconcile('shop/example');
    text = (await metrics.scrape()).body;
    expect(text).not.toContain('kvsync_certificate_expiry_timestamp_seconds{');
    expect(text).toContain('kvsync_sync_duration_seconds_count 3');
  });

  it('counts template render failures by reason; the sync fails as TemplateFailed', async () => {
    const metrics = createControllerMetrics(new KeyVaultAccess(), { defaultMetrics: false });
    const reconciler = reconcilerWith(metrics, { fail: false, present: true, templateFails: true });
    await reconciler.reconcile('shop/example');
    await reconciler.reconcile('shop/example');
    const text = (await metrics.scrape()).body;
    expect(text).toContain('kvsync_template_failures_total{reason="not_text"} 2');
    expect(text).toContain('kvsync_syncs_total{result="TemplateFailed"} 2');
  });

  it('keeps one selected-objects series per KeyVaultSync with selectors, removed without them or when it is gone', async () => {
    const metrics = createControllerMetrics(new KeyVaultAccess(), { defaultMetrics: false });
    const state = { fail: false, present: true };
    const reconciler = reconcilerWith(metrics, state);
    metrics.setSelectedObjects('shop', 'example', 3);
    metrics.setSelectedObjects('shop', 'other', 0);
    let text = (await metrics.scrape()).body;
    expect(text).toContain('kvsync_selected_objects{namespace="shop",keyvaultsync="example"} 3');
    expect(text).toContain('kvsync_selected_objects{namespace="shop",keyvaultsync="other"} 0');
    // A successful sync of a spec without selectors removes its series.
    await reconciler.reconcile('shop/example');
    text = (await metrics.scrape()).body;
    expect(text).not.toContain('keyvaultsync="example"} 3');
    metrics.forgetSync('shop', 'other');
    expect((await metrics.scrape()).body).not.toContain('kvsync_selected_objects{');
  });

  it('prefers the parsed leaf notAfter and ignores older versions', () => {
    const leafNotAfter = new Date('2026-12-24T00:00:00Z');
    const object = { name: 'web', type: 'secret', outputName: 'web' } as PipelineFetchedObject['object'];
    const current = { object, version: 'v2', contentType: 'application/x-pkcs12', updatedOn: undefined, expiresOn: EXPIRY, historyIndex: 0, material: { kind: 'certificate', bundle: { leaf: { notAfter: leafNotAfter } } } };
    const older = { ...current, version: 'v1', historyIndex: 1, material: { kind: 'certificate', bundle: { leaf: { notAfter: new Date(0) } } } };
    expect(certificateExpiries([current, older])).toEqual(new Map([['web', leafNotAfter]]));
  });

  it('reports queue depth and wait, and serves /metrics with process metrics', async () => {
    const metrics = createControllerMetrics(new KeyVaultAccess());
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const queue = new WorkQueue({ concurrency: 1, handler: () => gate.then(() => ({})), onWaited: (s) => metrics.waited(s) });
    metrics.setQueueDepthSource(() => queue.length);
    queue.add('a');
    queue.add('b');
    queue.add('c');
    queue.start();
    const server = await startHealthServer('127.0.0.1:0', { ready: () => true, metrics: () => metrics.scrape() });
    try {
      const res = await fetch(`http://${server.address}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(text).toContain('kvsync_workqueue_depth 2');
      expect(text).toContain('kvsync_workqueue_wait_seconds_count 1');
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).toContain('nodejs_heap_size_used_bytes');
    } finally {
      release();
      await queue.shutdown();
      await server.close();
    }
  });

  it('keeps registries apart: two controllers in one process do not clash', async () => {
    const a = createControllerMetrics(new KeyVaultAccess());
    const b = createControllerMetrics(new KeyVaultAccess());
    a.syncFinished('success', 0.1);
    expect((await a.scrape()).body).toContain('kvsync_syncs_total{result="success"} 1');
    expect((await b.scrape()).body).not.toContain('kvsync_syncs_total{result="success"}');
  });
});

describe('Key Vault request counting', () => {
  it('names operations without object names or versions', () => {
    expect(keyVaultOperation('GET', 'https://devkv.vault.azure.net/secrets/db/abc123?api-version=7.5')).toBe('get_secret');
    expect(keyVaultOperation('GET', 'https://devkv.vault.azure.net/secrets/db/?api-version=7.5')).toBe('get_secret');
    expect(keyVaultOperation('GET', 'https://devkv.vault.azure.net/secrets/db/versions?api-version=7.5')).toBe('list_secret_versions');
    expect(keyVaultOperation('GET', 'https://devkv.vault.azure.net/certificates?api-version=7.5')).toBe('list_certificates');
    expect(keyVaultOperation('GET', 'https://devkv.vault.azure.net/keys/k1')).toBe('get_key');
    expect(keyVaultOperation('POST', 'https://devkv.vault.azure.net/other')).toBe('post_other');
  });

  it('counts what the SDK pipeline policy reports, by vault, operation and status', async () => {
    const vaults = new KeyVaultAccess();
    const keyVaultRequestPolicy = vaults.requests.policy;
    const metrics = createControllerMetrics(vaults, { defaultMetrics: false });
    const request = (url: string) => ({ method: 'GET', url }) as Parameters<typeof keyVaultRequestPolicy.sendRequest>[0];
    const respond = (status: number) => () => Promise.resolve({ status }) as ReturnType<Parameters<typeof keyVaultRequestPolicy.sendRequest>[1]>;
    await keyVaultRequestPolicy.sendRequest(request('https://devkv.vault.azure.net/secrets/db'), respond(401));
    await keyVaultRequestPolicy.sendRequest(request('https://devkv.vault.azure.net/secrets/db'), respond(200));
    await keyVaultRequestPolicy.sendRequest(request('https://devkv.vault.azure.net/secrets/db/v2'), respond(200));
    metrics.close();
    await keyVaultRequestPolicy.sendRequest(request('https://devkv.vault.azure.net/secrets/db'), respond(200));
    const text = (await metrics.scrape()).body;
    expect(text).toContain('kvsync_keyvault_requests_total{vault="devkv",operation="get_secret",status="401"} 1');
    expect(text).toContain('kvsync_keyvault_requests_total{vault="devkv",operation="get_secret",status="200"} 2');
    expect(text).not.toContain('db');
  });
});

describe('object cache and change detection metrics', () => {
  it('the controller counts cache answers and listings (kvsync_object_cache_requests_total, kvsync_change_detection_lists_total)', async () => {
    const vaults = new KeyVaultAccess();
    const reportRefreshEvent = vaults.refreshEvents.tell.bind(vaults.refreshEvents);
    const metrics = createControllerMetrics(vaults, { defaultMetrics: false });
    try {
      const cache = new ObjectCache<string>({ onResult: (result) => reportRefreshEvent({ kind: 'cache', result }) });
      const key = { vaultUrl: 'https://kv.vault.azure.net', type: 'secret', name: 'db', version: undefined, identityKey: 'id' };
      await Promise.all([cache.get(key, () => Promise.resolve('v')), cache.get(key, () => Promise.resolve('v'))]);
      await cache.get(key, () => Promise.resolve('v'));
      reportRefreshEvent({ kind: 'list', vault: 'kv', result: 'ok' });
      reportRefreshEvent({ kind: 'list', vault: 'kv', result: 'forbidden' });
      const { body } = await metrics.scrape();
      expect(body).toContain('kvsync_object_cache_requests_total{result="miss"} 1');
      expect(body).toContain('kvsync_object_cache_requests_total{result="shared"} 1');
      expect(body).toContain('kvsync_object_cache_requests_total{result="hit"} 1');
      expect(body).toContain('kvsync_change_detection_lists_total{vault="kv",result="ok"} 1');
      expect(body).toContain('kvsync_change_detection_lists_total{vault="kv",result="forbidden"} 1');
    } finally {
      metrics.close();
    }
  });
});

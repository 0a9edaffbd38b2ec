/**
 * ResilientInformer against a minimal in-test HTTP stand-in for the Kubernetes API (unit tests only):
 * a watch that dies with a reset connection (which leaves client-node's ListWatch stopped for good)
 * is restarted, our own stop() does not trigger a restart, and cached objects are kept without the
 * field sets of their managedFields.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../util/poll.ts';
import { ResilientInformer, watchFailureLevel } from './informer.ts';

interface FakeApi {
  server: Server;
  url: string;
  lists: number;
  watches: number;
  items: k8s.V1ConfigMap[];
}

async function fakeApi(): Promise<FakeApi> {
  const api: FakeApi = { server: undefined as unknown as Server, url: '', lists: 0, watches: 0, items: [] };
  api.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      api.watches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      // The first watch sends one event and then the connection is reset (not a clean close).
      if (api.watches === 1) {
        res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'late', namespace: 'ns', resourceVersion: '2', managedFields: [managedEntry('kvsync-sync', 'Apply')] } } }) + '\n');
        setTimeout(() => req.socket.destroy(), 20);
      }
      res.flushHeaders();
      return; // later watches stay open
    }
    api.lists += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: api.items }));
  });
  await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  return api;
}

/** A managedFields entry as the apiserver sends it, with its field set. */
function managedEntry(manager: string, operation: string): k8s.V1ManagedFieldsEntry {
  return { manager, operation, apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:kvsync.dev/managed': {} } } } };
}

function kubeConfigFor(url: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

describe('ResilientInformer', () => {
  let api: FakeApi | undefined;
  let informer: ResilientInformer<k8s.V1ConfigMap> | undefined;
  afterEach(async () => {
    await informer?.stop();
    api?.server.closeAllConnections();
    api?.server.close();
  });

  it('restarts the watch after a connection reset, with backoff, and not after its own stop', async () => {
    api = await fakeApi();
    api.items = [{ metadata: { name: 'first', namespace: 'ns', resourceVersion: '1' } }];
    const core = kubeConfigFor(api.url).makeApiClient(k8s.CoreV1Api);
    const added: string[] = [];
    const errors: number[] = [];
    informer = new ResilientInformer<k8s.V1ConfigMap>({
      kc: kubeConfigFor(api.url),
      path: '/api/v1/configmaps',
      list: () => core.listConfigMapForAllNamespaces(),
      onAdd: (o) => added.push(o.metadata?.name ?? ''),
      onError: (_err, restartInMs) => errors.push(restartInMs),
      baseBackoffMs: 50,
    });
    await informer.start();
    expect(informer.synced).toBe(true);
    await pollUntil(() => (api !== undefined && api.watches >= 2 ? true : undefined), { timeoutMs: 5_000, description: 'a second watch after the reset' });
    expect(added).toEqual(['first', 'late']);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(informer.restarts).toBeGreaterThanOrEqual(1);
    expect(informer.get('late', 'ns')?.metadata?.name).toBe('late');

    const watchesBefore = api.watches;
    const errorsBefore = errors.length;
    await informer.stop();
    // Our own stop fires an AbortError inside client-node: it must not schedule a restart.
    await pollUntil(() => ((informer?.ignoredErrors ?? 0) >= 1 ? true : undefined), { timeoutMs: 5_000, description: 'the AbortError of our own stop' });
    expect(errors.length).toBe(errorsBefore);
    expect(api.watches).toBe(watchesBefore);
  });

  it('caches objects without the field sets of managedFields, keeping who manages them and how', async () => {
    api = await fakeApi();
    api.items = [{ metadata: { name: 'listed', namespace: 'ns', resourceVersion: '1', managedFields: [managedEntry('kvsync', 'Apply'), managedEntry('kubectl', 'Update')] } }];
    const core = kubeConfigFor(api.url).makeApiClient(k8s.CoreV1Api);
    const handed: (k8s.V1ManagedFieldsEntry[] | undefined)[] = [];
    informer = new ResilientInformer<k8s.V1ConfigMap>({
      kc: kubeConfigFor(api.url),
      path: '/api/v1/configmaps',
      list: () => core.listConfigMapForAllNamespaces(),
      onAdd: (o) => handed.push(o.metadata?.managedFields),
      baseBackoffMs: 50,
    });
    await informer.start();
    await pollUntil(() => (informer?.get('late', 'ns') === undefined ? undefined : true), { timeoutMs: 5_000, description: 'the watch event' });
    const shape = (o: k8s.V1ConfigMap | undefined): unknown => o?.metadata?.managedFields?.map((e) => ({ ...e }));
    expect(shape(informer.get('listed', 'ns'))).toEqual([
      { manager: 'kvsync', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1' },
      { manager: 'kubectl', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1' },
    ]);
    expect(shape(informer.get('late', 'ns'))).toEqual([{ manager: 'kvsync-sync', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1' }]);
    // Handlers see the cached object itself: slimmed before they run.
    expect(handed.flat().some((e) => e?.fieldsV1 !== undefined)).toBe(false);
  });

  it('relists with a fresh informer: changed objects come as updates, vanished ones as deletes', async () => {
    api = await fakeApi();
    api.items = [
      { metadata: { name: 'keep', namespace: 'ns', resourceVersion: '1' } },
      { metadata: { name: 'gone', namespace: 'ns', resourceVersion: '1' } },
    ];
    const core = kubeConfigFor(api.url).makeApiClient(k8s.CoreV1Api);
    const seen: string[] = [];
    informer = new ResilientInformer<k8s.V1ConfigMap>({
      kc: kubeConfigFor(api.url),
      path: '/api/v1/configmaps',
      list: () => core.listConfigMapForAllNamespaces(),
      onAdd: (o) => seen.push(`add:${o.metadata?.name ?? ''}`),
      onUpdate: (o) => seen.push(`update:${o.metadata?.name ?? ''}`),
      onDelete: (o) => seen.push(`delete:${o.metadata?.name ?? ''}`),
      baseBackoffMs: 50,
    });
    await informer.start();
    await pollUntil(() => (seen.includes('add:late') ? true : undefined), { timeoutMs: 5_000, description: 'the watch event' });
    api.items = [{ metadata: { name: 'keep', namespace: 'ns', resourceVersion: '5' } }, { metadata: { name: 'late', namespace: 'ns', resourceVersion: '2' } }];
    seen.length = 0;
    await informer.relist();
    expect(seen.sort()).toEqual(['delete:gone', 'update:keep']);
  });
});

describe('watchFailureLevel', () => {
  const http = (statusCode: number): Error => Object.assign(new Error('Too Many Requests'), { statusCode });

  it('a 429 (a new CRD not established yet) is debug for the first retries, a warning once it persists', () => {
    expect(watchFailureLevel(http(429), 1000)).toBe('debug');
    expect(watchFailureLevel(http(429), 4000)).toBe('debug');
    expect(watchFailureLevel(http(429), 8000)).toBe('warn');
    expect(watchFailureLevel(new k8s.ApiException(429, 'Too Many Requests', '', {}), 1000)).toBe('debug');
  });

  it('any other failure is a warning at once', () => {
    expect(watchFailureLevel(http(500), 1000)).toBe('warn');
    expect(watchFailureLevel(http(403), 1000)).toBe('warn');
    expect(watchFailureLevel(new Error('socket hang up'), 1000)).toBe('warn');
  });
});

/**
 * Kubernetes side of the benchmark: namespaces, the service-principal credentials Secret, creating
 * KeyVaultSyncs and plain Secrets with bounded concurrency, and two watchers that timestamp what the
 * controller did — when each KeyVaultSync first became Ready, and when a Secret key took a value.
 */
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { ResilientInformer } from '../../src/controller/informer.ts';
import { shareKubeDispatcher } from '../../src/controller/kube-dispatcher.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { forEachLimited } from './stats.ts';

export const PLURAL = 'keyvaultsyncs';

/** A namespaced custom resource the benchmark creates and watches for Ready. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const KEYVAULTSYNCS: CustomResource = { group: GROUP, version: VERSION, plural: PLURAL, kind: 'KeyVaultSync' };
export const CREDENTIALS_SECRET = 'kv-creds';

export interface KvsObject extends k8s.KubernetesObject {
  spec?: Record<string, unknown>;
  status?: { conditions?: { type: string; status: string; reason?: string; observedGeneration?: number }[] };
}

/** One KeyVaultSync the benchmark creates: one Opaque Secret holding each object under its name. */
export interface KvsPlan {
  name: string;
  secretName: string;
  objects: string[];
}

export function kvsSpec(plan: KvsPlan, vault: { name: string; url: string; tenantID: string }, refreshInterval: string): Record<string, unknown> {
  return {
    vault,
    identity: { servicePrincipal: { secretRef: { name: CREDENTIALS_SECRET } } },
    objects: plan.objects.map((name) => ({ name, type: 'secret' })),
    secretObjects: [{ secretName: plan.secretName, type: 'Opaque', data: plan.objects.map((name) => ({ objectName: name })) }],
    refreshInterval,
  };
}

/** `n` KeyVaultSyncs, each using `perKvs` consecutive objects of `objects` (wrapping), so every object is shared evenly. */
export function planSyncs(prefix: string, n: number, objects: readonly string[], perKvs: number): KvsPlan[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `${prefix}-${String(i).padStart(4, '0')}`;
    const own = Array.from({ length: Math.min(perKvs, objects.length) }, (_, j) => objects[(i * perKvs + j) % objects.length] ?? '');
    return { name, secretName: `${name}-secret`, objects: [...new Set(own)] };
  });
}

export class BenchKube {
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;

  constructor(kubeconfigPath: string) {
    this.kc = new k8s.KubeConfig();
    this.kc.loadFromFile(kubeconfigPath);
    // The same connection reuse the controller has, so the baseline is not slowed by a TLS handshake per request.
    shareKubeDispatcher(this.kc);
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.custom = this.kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async createNamespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name, labels: { 'kvsync.dev/bench': 'true' } } } }).catch(ignoreConflict);
  }

  /** Deletes a namespace; with `wait`, resolves once it is gone (or the timeout passed: returns false). */
  async deleteNamespace(name: string, wait?: { timeoutMs: number }): Promise<boolean> {
    await this.core.deleteNamespace({ name }).catch(ignoreNotFound);
    if (wait === undefined) return true;
    try {
      await pollUntil(
        async () => {
          try {
            await this.core.readNamespace({ name });
            return undefined;
          } catch (err) {
            if (err instanceof k8s.ApiException && err.code === 404) return true;
            throw err;
          }
        },
        { timeoutMs: wait.timeoutMs, intervalMs: 1000, description: `namespace ${name} to be deleted` },
      );
      return true;
    } catch {
      return false;
    }
  }

  async createCredentials(namespace: string, principal: { clientId: string; clientSecret: string }): Promise<void> {
    await this.core.createNamespacedSecret({ namespace, body: { metadata: { name: CREDENTIALS_SECRET }, stringData: { clientid: principal.clientId, clientsecret: principal.clientSecret } } }).catch(ignoreConflict);
  }

  /**
   * Sends one create of `resource` as a server-side dry run (validated and admitted, never stored, so no watch
   * sees it) and resolves with how long the apiserver took. The first create of a resource whose CRD was just
   * established waits for the apiserver's own lazy set-up of that resource (about 2 s on a busy 2-core
   * machine, then a few ms): sent before a clock starts, it keeps that one-time cost out of the measurement.
   */
  async dryRunCreate(namespace: string, resource: CustomResource, name: string, spec: Record<string, unknown>): Promise<number> {
    const { group, version, plural, kind } = resource;
    const t0 = Date.now();
    await this.custom.createNamespacedCustomObject({ group, version, plural, namespace, dryRun: 'All', body: { apiVersion: `${group}/${version}`, kind, metadata: { name }, spec } });
    return Date.now() - t0;
  }

  /** Creates the objects with `concurrency` requests in flight; resolves with when each create was acknowledged (name → epoch ms). */
  async createSyncs(namespace: string, specs: readonly { name: string; spec: Record<string, unknown> }[], concurrency: number, resource: CustomResource = KEYVAULTSYNCS): Promise<Map<string, number>> {
    const { group, version, plural, kind } = resource;
    const acknowledgedAt = new Map<string, number>();
    await forEachLimited(specs, concurrency, async ({ name, spec }) => {
      await this.custom.createNamespacedCustomObject({ group, version, plural, namespace, body: { apiVersion: `${group}/${version}`, kind, metadata: { name }, spec } });
      acknowledgedAt.set(name, Date.now());
    });
    return acknowledgedAt;
  }

  async createSecrets(namespace: string, secrets: readonly { name: string; data: Record<string, string> }[], concurrency: number): Promise<void> {
    await forEachLimited(secrets, concurrency, async ({ name, data }) => {
      await this.core.createNamespacedSecret({ namespace, body: { metadata: { name }, type: 'Opaque', stringData: data } });
    });
  }

  /** Watches the KeyVaultSyncs (or another resource with a Ready condition) of a namespace, recording when each first became Ready. */
  async trackReady(namespace: string, resource: CustomResource = KEYVAULTSYNCS): Promise<ReadyTracker> {
    const t = new ReadyTracker(this.kc, this.custom, namespace, resource);
    await t.start();
    return t;
  }

  /** Watches the Secrets of a namespace, to time when a key takes an expected value. */
  async trackSecrets(namespace: string): Promise<SecretValueTracker> {
    const t = new SecretValueTracker(this.kc, this.core, namespace);
    await t.start();
    return t;
  }
}

function isReady(o: KvsObject): boolean {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return c?.status === 'True' && (c.observedGeneration === undefined || c.observedGeneration === o.metadata?.generation);
}

export class ReadyTracker {
  /** Name → epoch ms at which it was first seen Ready. */
  readonly readyAt = new Map<string, number>();
  /** Name → the last not-Ready reason seen (for diagnostics). */
  readonly lastReason = new Map<string, string>();
  readonly #informer: ResilientInformer<KvsObject>;

  constructor(kc: k8s.KubeConfig, custom: k8s.CustomObjectsApi, namespace: string, resource: CustomResource) {
    const { group, version, plural } = resource;
    const seen = (o: KvsObject): void => {
      const name = o.metadata?.name ?? '';
      if (isReady(o)) {
        if (!this.readyAt.has(name)) this.readyAt.set(name, Date.now());
      } else {
        const reason = o.status?.conditions?.find((x) => x.type === 'Ready')?.reason;
        if (reason !== undefined) this.lastReason.set(name, reason);
      }
    };
    this.#informer = new ResilientInformer<KvsObject>({
      kc,
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      list: async () => (await custom.listNamespacedCustomObject({ group, version, plural, namespace })) as k8s.KubernetesListObject<KvsObject>,
      onAdd: seen,
      onUpdate: seen,
    });
  }

  async start(): Promise<void> {
    await this.#informer.start();
  }

  /** Resolves when every name is Ready; rejects after the timeout naming how many are not and why. */
  async waitAll(names: readonly string[], timeoutMs: number, progress?: (ready: number) => void): Promise<void> {
    let lastReport = 0;
    await pollUntil(
      () => {
        const ready = names.filter((n) => this.readyAt.has(n)).length;
        if (progress !== undefined && Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          progress(ready);
        }
        return ready === names.length ? true : undefined;
      },
      { timeoutMs, intervalMs: 200, description: `${names.length} objects to be Ready` },
    ).catch((err: unknown) => {
      const missing = names.filter((n) => !this.readyAt.has(n));
      const reasons = [...new Set(missing.map((n) => this.lastReason.get(n) ?? 'no status'))].join(', ');
      throw new Error(`${missing.length} of ${names.length} not Ready (${reasons})`, { cause: err });
    });
  }

  async stop(): Promise<void> {
    await this.#informer.stop();
  }
}

export class SecretValueTracker {
  readonly #informer: ResilientInformer<k8s.V1Secret>;
  readonly #waiters = new Set<{ secret: string; key: string; value: string; resolve: (atMs: number) => void }>();

  constructor(kc: k8s.KubeConfig, core: k8s.CoreV1Api, namespace: string) {
    const seen = (s: k8s.V1Secret): void => {
      const now = Date.now();
      for (const w of [...this.#waiters]) {
        if (s.metadata?.name !== w.secret) continue;
        const b64 = s.data?.[w.key];
        if (b64 !== undefined && Buffer.from(b64, 'base64').toString('utf8') === w.value) {
          this.#waiters.delete(w);
          w.resolve(now);
        }
      }
    };
    this.#informer = new ResilientInformer<k8s.V1Secret>({
      kc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      list: async () => await core.listNamespacedSecret({ namespace }),
      onAdd: seen,
      onUpdate: seen,
    });
  }

  async start(): Promise<void> {
    await this.#informer.start();
  }

  /** Resolves with the epoch ms at which Secret `secret` was seen holding `value` under `key` (undefined on timeout). */
  waitFor(secret: string, key: string, value: string, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const current = this.#informer.get(secret)?.data?.[key];
      if (current !== undefined && Buffer.from(current, 'base64').toString('utf8') === value) {
        resolve(Date.now());
        return;
      }
      const w = {
        secret,
        key,
        value,
        resolve: (atMs: number): void => {
          clearTimeout(timer);
          resolve(atMs);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  async stop(): Promise<void> {
    await this.#informer.stop();
  }
}

function ignoreConflict(err: unknown): void {
  if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof k8s.ApiException && err.code === 404)) throw err;
}

/**
 * One HTTP connection pool per KubeConfig. `@kubernetes/client-node` 2.0.1 builds a NEW undici Agent
 * for every API request (KubeConfig.applySecurityAuthentication → createDispatcher, uncached, unlike
 * its https.Agent cache), so with client-certificate or custom-CA auth every request pays a TLS
 * handshake and leaves an HTTP/2 session open until the server drops it. Measured by `npm run bench`:
 * a controller with 300 KeyVaultSyncs held ~420 HTTP/2 sessions and 560 MiB RSS.
 *
 * {@link shareKubeDispatcher} makes the KubeConfig reuse one dispatcher per distinct set of TLS
 * options (server, CA, client certificate and key, …), so a rotated client certificate still gets
 * a fresh pool. It patches a private method of client-node (client-node offers no public hook for
 * the dispatcher), so client-node is pinned to an exact version in package.json and the unit test
 * fails, naming this patch, when that method changes shape. Should it be gone at run time anyway,
 * the KubeConfig is left as it is.
 */
import { createHash, type Hash } from 'node:crypto';
import type * as https from 'node:https';
import type * as k8s from '@kubernetes/client-node';

/** The part of an undici Dispatcher used here. */
interface ClosableDispatcher {
  close(): Promise<void>;
}

type CreateDispatcher = (cluster: k8s.Cluster | null, agentOptions: https.AgentOptions) => ClosableDispatcher | undefined;

/** Pools kept per KubeConfig: the current TLS options and a few previous ones (closed when evicted). */
const MAX_POOLS = 4;

const patched = new WeakSet<k8s.KubeConfig>();

/** A digest of the options that shape a connection (buffers hashed in place; nothing kept or logged in clear). */
export function dispatcherKey(server: string | undefined, options: unknown): string {
  const h = createHash('sha256');
  h.update(`s${server ?? ''}\u0000`);
  digestInto(h, options);
  return h.digest('hex');
}

/** Feeds a plain value into the hash with type tags; buffers go in as bytes (no JSON copy of key material). */
function digestInto(h: Hash, v: unknown): void {
  if (v instanceof Uint8Array) {
    h.update(`b${v.byteLength}:`);
    h.update(v);
  } else if (Array.isArray(v)) {
    h.update(`a${v.length}[`);
    for (const x of v) digestInto(h, x);
    h.update(']');
  } else if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    h.update(`o${keys.length}{`);
    for (const k of keys) {
      h.update(`${JSON.stringify(k)}:`);
      digestInto(h, (v as Record<string, unknown>)[k]);
    }
    h.update('}');
  } else if (typeof v === 'function') {
    h.update('f');
  } else {
    h.update(`v${JSON.stringify(v) ?? 'undefined'};`);
  }
}

/**
 * Makes `kc` reuse its undici dispatchers across requests (see the module comment). Idempotent.
 * @returns true when the KubeConfig was patched (or already was), false when client-node has no
 *   `createDispatcher` to patch
 */
export function shareKubeDispatcher(kc: k8s.KubeConfig): boolean {
  if (patched.has(kc)) return true;
  const target = kc as unknown as { createDispatcher?: CreateDispatcher };
  const original = target.createDispatcher;
  if (typeof original !== 'function') return false;
  const pools = new Map<string, ClosableDispatcher | undefined>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = dispatcherKey(cluster?.server, kc.createDispatcherOptions(cluster, agentOptions));
    if (pools.has(key)) {
      const pool = pools.get(key);
      // Most recently used last, so eviction drops the oldest.
      pools.delete(key);
      pools.set(key, pool);
      return pool;
    }
    const pool = original.call(kc, cluster, agentOptions);
    pools.set(key, pool);
    while (pools.size > MAX_POOLS) {
      const [oldKey, oldPool] = pools.entries().next().value as [string, ClosableDispatcher | undefined];
      pools.delete(oldKey);
      // close() lets in-flight requests finish; a watch on it ends and is restarted by its informer.
      oldPool?.close().catch(() => undefined);
    }
    return pool;
  };
  patched.add(kc);
  return true;
}

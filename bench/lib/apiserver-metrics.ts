/**
 * Requests the kube-apiserver served, by verb and resource, from its own /metrics
 * (`apiserver_request_total`, `apiserver_request_duration_seconds`): read before and after a phase, the
 * difference says what the phase cost the apiserver — everyone's requests, the benchmark's own included.
 */
import { request } from 'node:https';
import type * as k8s from '@kubernetes/client-node';

export interface ApiserverSnapshot {
  /** `verb resource[/subresource]` → requests. */
  requests: Map<string, number>;
  /** `verb resource[/subresource]` → summed latency, seconds. */
  seconds: Map<string, number>;
}

export async function apiserverSnapshot(kc: k8s.KubeConfig): Promise<ApiserverSnapshot> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig has no current cluster');
  const opts: { ca?: unknown; cert?: unknown; key?: unknown; headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(`${server}/metrics`, { ...opts, method: 'GET', timeout: 30_000 } as Parameters<typeof request>[1], (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`GET /metrics: HTTP ${res.statusCode ?? 0}`))));
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics: timeout')));
    req.on('error', reject);
    req.end();
  });
  return parseApiserverMetrics(text);
}

function labelsOf(s: string): Record<string, string> {
  return Object.fromEntries([...s.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

export function parseApiserverMetrics(text: string): ApiserverSnapshot {
  const requests = new Map<string, number>();
  const seconds = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(apiserver_request_total|apiserver_request_duration_seconds_sum)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m === null) continue;
    const l = labelsOf(m[2] ?? '');
    if (l.resource === undefined || l.resource === '') continue;
    const key = `${l.verb ?? '?'} ${l.resource}${l.subresource ? `/${l.subresource}` : ''}`;
    const target = m[1] === 'apiserver_request_total' ? requests : seconds;
    target.set(key, (target.get(key) ?? 0) + Number(m[3]));
  }
  return { requests, seconds };
}

/** Requests and mean latency per `verb resource` between two snapshots (only what changed). */
export function apiserverDelta(before: ApiserverSnapshot, after: ApiserverSnapshot): Record<string, { requests: number; meanMs: number }> {
  const out: Record<string, { requests: number; meanMs: number }> = {};
  for (const [key, n] of after.requests) {
    const d = n - (before.requests.get(key) ?? 0);
    if (d <= 0) continue;
    const s = (after.seconds.get(key) ?? 0) - (before.seconds.get(key) ?? 0);
    out[key] = { requests: d, meanMs: Math.round((s / d) * 10000) / 10 };
  }
  return out;
}

/** Requests of a delta split into reads, writes and watches. */
export interface RequestClasses {
  reads: number;
  writes: number;
  watches: number;
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);
const READ_VERBS = new Set(['GET', 'LIST']);
/**
 * Resources only the control plane itself uses while a controller is quiet (its components' leases and
 * the apiserver's own identity lease, endpoints of the `kubernetes` Service): the same for every contender,
 * so left out of what a controller costs.
 */
export const CONTROL_PLANE_RESOURCES = new Set(['leases', 'endpoints', 'endpointslices']);

/** Reads (GET, LIST), writes and watches of a delta, without {@link CONTROL_PLANE_RESOURCES}. */
export function classifyRequests(delta: Record<string, { requests: number }>): RequestClasses {
  const out: RequestClasses = { reads: 0, writes: 0, watches: 0 };
  for (const [key, { requests }] of Object.entries(delta)) {
    const [verb = '', resource = ''] = key.split(' ');
    if (CONTROL_PLANE_RESOURCES.has(resource.split('/')[0] ?? '')) continue;
    if (WRITE_VERBS.has(verb)) out.writes += requests;
    else if (READ_VERBS.has(verb)) out.reads += requests;
    else if (verb === 'WATCH') out.watches += requests;
  }
  return out;
}

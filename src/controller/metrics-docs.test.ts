/**
 * docs/metrics.md documents every metric the controller serves on /metrics: each kvsync_ metric of the
 * registry createControllerMetrics builds (with its type and exact label names), every other kvsync_
 * metric name registered anywhere in src (some are added to the same registry only when a feature is
 * on, e.g. Event Grid), and the default process metric families.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KeyVaultAccess } from '../keyvault/access.ts';
import { createControllerMetrics } from './metrics.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface DocumentedMetric {
  type: string;
  labels: string[];
}

/** The rows of the metric tables: `| \`name\` | type | \`label\`, … | meaning |`. */
function documentedMetrics(doc: string): Map<string, DocumentedMetric> {
  const out = new Map<string, DocumentedMetric>();
  for (const line of doc.split('\n')) {
    const m = /^\| `(kvsync_[a-z0-9_]+)` \| ([a-z]+) \|([^|]*)\|/.exec(line);
    if (m === null) continue;
    const labels = [...(m[3] ?? '').matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!);
    out.set(m[1]!, { type: m[2]!, labels });
  }
  return out;
}

/** `'kvsync_…'` string literals in non-test sources: metric names, wherever they are registered. */
function metricNamesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const files = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'));
  for (const e of files) {
    const path = join(e.parentPath, e.name);
    for (const m of readFileSync(path, 'utf8').matchAll(/['"`](kvsync_[a-z0-9_]+)['"`]/g)) {
      if (!found.has(m[1]!)) found.set(m[1]!, path.slice(ROOT.length + 1));
    }
  }
  return found;
}

describe('docs/metrics.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const documented = documentedMetrics(doc);

  it('documents every metric of the controller registry with its type and labels', () => {
    const metrics = createControllerMetrics(new KeyVaultAccess());
    try {
      const registered = metrics.registry.getMetricsAsArray();
      expect(registered.some((m) => m.name === 'kvsync_syncs_total')).toBe(true);
      for (const metric of registered) {
        const name = metric.name;
        const type = String(metric.type);
        if (!name.startsWith('kvsync_')) {
          // prom-client's default metrics: documented as families.
          const family = /^(process|nodejs)_/.exec(name)?.[1];
          expect(family, `${name} belongs to a documented family`).toBeDefined();
          expect(doc).toContain(`\`${family!}_*\``);
          continue;
        }
        const row = documented.get(name);
        expect(row, `${name} has a row in docs/metrics.md`).toBeDefined();
        expect(row?.type, `${name} type`).toBe(type);
        const labels = [...((metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [])].sort();
        expect([...(row?.labels ?? [])].sort(), `${name} labels`).toEqual(labels);
      }
    } finally {
      metrics.close();
    }
  });

  it('documents every kvsync_ metric name registered anywhere in src', () => {
    const names = metricNamesInSource();
    expect(names.has('kvsync_keyvault_requests_total')).toBe(true);
    const missing = [...names].filter(([n]) => !documented.has(n)).map(([n, where]) => `${n} (${where})`);
    expect(missing).toEqual([]);
  });

  it('follows the naming conventions it documents (kvsync_ prefix, _total counters, base units)', () => {
    for (const [name, m] of documented) {
      if (m.type === 'counter') expect(name, name).toMatch(/_total$/);
      if (name.includes('seconds')) expect(name, name).toMatch(/_seconds$/);
    }
  });
});

/**
 * The soak's mounts: each directory is paired with its own target (the objects that mount renders),
 * whatever order the directories happen to be created in. Paired by completion order, two mounts
 * swapped targets in about one run in ten, and the checker reported each mount "missing" the other's
 * secret for the whole run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { planObjects } from '../../../chaos/lib/plan.ts';
import { SeededRandom } from '../../../chaos/lib/random.ts';
import { prepareMounts } from '../../../chaos/lib/soak.ts';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

describe('prepareMounts', () => {
  it('pairs every mount directory with its own target, across many concurrent creations', async () => {
    const plan = planObjects(new SeededRandom(7), 40, 8);
    for (let run = 0; run < 25; run++) {
      const root = await mkdtemp(join(tmpdir(), 'kvsync-mounts-'));
      roots.push(root);
      const prepared = await prepareMounts(plan.mounts, join(root, 'mounts'), (m) => ({ objects: [...m.secrets, m.certificate] }));
      expect(prepared.map((p) => p.name)).toEqual(plan.mounts.map((m) => m.name));
      for (const [i, p] of prepared.entries()) {
        const m = plan.mounts[i];
        expect(basename(p.dir)).toBe(p.name);
        expect(p.target.id).toBe(`mount ${p.name}`);
        expect(p.target.entries.map((e) => e.object)).toEqual([...(m?.secrets ?? []), m?.certificate]);
        expect(p.spec).toEqual({ objects: p.target.entries.map((e) => e.object) });
      }
    }
  });
});

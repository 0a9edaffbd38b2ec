/**
 * A short chaos soak (the same code as `npm run chaos`, smaller): 40 KeyVaultSyncs and two mount
 * sidecars under rotations every 2 s and every kind of fault but the control-plane restarts and token
 * outages (tens of seconds each; the 10-minute run has them) for 75 s, watched by the independent
 * checker; then every fault ended. No Secret or file set ever holds anything but a complete render of
 * versions Key Vault held, nothing unmanaged is touched, no process dies unplanned, and everything
 * converges within two refresh intervals. Each run draws a new seed (printed; KVSYNC_CHAOS_SEED replays
 * one), so the suite keeps exploring schedules. To prove the checker sees what it should, the run itself
 * plants one foreign value in a managed Secret halfway through: that one violation must be reported, and
 * nothing else.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../chaos/lib/report.ts';
import { SHORT_RUN_KINDS } from '../../chaos/lib/plan.ts';
import { newSeed } from '../../chaos/lib/random.ts';
import { runChaos } from '../../chaos/lib/soak.ts';

const repo = join(import.meta.dirname, '..', '..');

describe('chaos soak, short', () => {
  it('no invariant violation under the short run\'s fault kinds but the planted one, and convergence within two refresh intervals', async () => {
    const seed = process.env.KVSYNC_CHAOS_SEED === undefined ? newSeed() : Number(process.env.KVSYNC_CHAOS_SEED);
    const lines: string[] = [];
    const results = await runChaos({
      durationMs: 75_000,
      seed,
      kvs: 40,
      mounts: 2,
      refreshSeconds: 30,
      rotateEveryMs: 2000,
      kinds: SHORT_RUN_KINDS,
      plantViolationAtMs: 35_000,
      cli: join(repo, 'src', 'cli.ts'),
      progress: (line) => lines.push(line),
    });
    console.log(formatReport({ ...results, command: `KVSYNC_CHAOS_SEED=${seed} vitest run test/reliability/chaos-short.test.ts`, commit: '-', startedAt: '', finishedAt: '', environment: {} }));
    // Every kind of fault was injected at least once (a kind skipped every time would test nothing).
    expect(results.faults.filter((f) => f.injected === 0).map((f) => f.kind), `seed ${seed}`).toEqual([]);
    // The rotation writer goes through the same Key Vault faults, so how many rotations land depends on the
    // schedule and on the machine's speed: the property is that the checker judged Secrets across rotations.
    expect(results.rotations.secrets + results.rotations.certificates, `seed ${seed}`).toBeGreaterThan(0);
    const planted = results.violations.filter((v) => v.kind === 'unknown-version' && v.target === 'secret chaos/opaque-0000');
    expect(planted, `seed ${seed}: the planted foreign value was not reported`).toHaveLength(1);
    expect(results.violations.filter((v) => !planted.includes(v)), `seed ${seed}; progress:\n${lines.join('\n')}`).toEqual([]);
    expect(results.convergence.allMs, `seed ${seed}`).toBeLessThanOrEqual(results.convergence.targetMs);
  }, 480_000);
});

/**
 * The chaos FaultRunner's phase end: no fault takes effect once `endAll` has begun, a fault still retrying
 * its begin gives up and undoes what it took, and one whose begin lands as the phase ends is ended too.
 * Key Vault here is a fake that refuses the run's writes until the faults are cleared (as a 429 storm
 * does), which is how a secret came to be deleted after the phase had ended.
 */
import { describe, expect, it } from 'vitest';
import { FaultRunner, type FaultTargets } from '../../../chaos/lib/faults.ts';
import type { ScheduledFault } from '../../../chaos/lib/plan.ts';

/** A vault of one secret, its writes refused until `clearFaults`, recording what happened when. */
function fakeWorld(opts: { deleteGate?: Promise<void> } = {}) {
  const events: string[] = [];
  const state = { deleted: false, phaseOver: false, claimed: new Set<string>() };
  let refusing = true;
  const admin = {
    clearFaults: () => {
      state.phaseOver = true;
      refusing = false;
      return Promise.resolve();
    },
    resetClock: () => Promise.resolve(),
  };
  const writer = {
    deleteSecret: async (name: string) => {
      if (refusing && opts.deleteGate === undefined) throw new Error('HTTP 429 Throttled');
      await opts.deleteGate;
      state.deleted = true;
      events.push(`${name} deleted${state.phaseOver ? ' after the phase' : ''}`);
    },
    recoverSecret: (name: string) => {
      state.deleted = false;
      events.push(`${name} recovered`);
      return Promise.resolve();
    },
  };
  const targets = {
    vault: 'v',
    admin,
    controllers: { busy: new Set<number>(), current: [] },
    mounts: { specs: [], current: [] },
    controlPlane: { processes: [] },
    writer,
    objects: {
      secrets: ['secret-0'],
      certificates: [],
      claim: (name: string) => (state.claimed.has(name) ? false : (state.claimed.add(name), true)),
      release: (name: string) => state.claimed.delete(name),
    },
    leaseHolder: () => Promise.resolve(undefined),
    kinds: ['secret-deleted'],
  } as unknown as FaultTargets;
  return { targets, events, state };
}

const deleteAt0: ScheduledFault = { atMs: 0, kind: 'secret-deleted', durationMs: 30_000, detail: { secret: 0 } };

describe('FaultRunner.endAll', () => {
  it('a fault still retrying its begin when the phase ends never takes effect, and gives its object back', async () => {
    const { targets, events, state } = fakeWorld();
    const lines: string[] = [];
    const runner = new FaultRunner(targets, (l) => lines.push(l));
    runner.start([deleteAt0]);
    // The begin has run and been refused at least once: it is retrying.
    await new Promise((r) => setTimeout(r, 100));
    expect(events).toEqual([]);
    await runner.endAll();
    expect(events.filter((e) => e.includes('deleted'))).toEqual([]);
    expect(state.deleted).toBe(false);
    expect(state.claimed.size).toBe(0);
    expect(runner.records.map((r) => [r.kind, r.outcome])).toEqual([['secret-deleted', 'skipped']]);
    expect(lines.join('\n')).toContain('the fault phase ended while it was beginning');
  });

  it('a fault whose begin lands as the phase ends is ended before endAll returns', async () => {
    let land: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (land = resolve));
    const { targets, events, state } = fakeWorld({ deleteGate: gate });
    const lines: string[] = [];
    const runner = new FaultRunner(targets, (l) => lines.push(l));
    runner.start([deleteAt0]);
    await new Promise((r) => setTimeout(r, 50));
    const ended = runner.endAll();
    // The delete that was in flight lands only now.
    land();
    await ended;
    expect(events).toEqual(['secret-0 deleted after the phase', 'secret-0 recovered']);
    expect(state.deleted).toBe(false);
    expect(state.claimed.size).toBe(0);
    expect(lines.join('\n')).toContain('ended at once');
  });

  it('a fault scheduled after the phase ended never begins', async () => {
    const { targets, events } = fakeWorld();
    const runner = new FaultRunner(targets, () => undefined);
    runner.start([{ ...deleteAt0, atMs: 60_000 }]);
    await runner.endAll();
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([]);
    expect(runner.records).toEqual([]);
  });
});

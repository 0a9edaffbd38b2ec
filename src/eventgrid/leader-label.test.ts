import { describe, expect, it } from 'vitest';
import { LeaderPodLabel } from './leader-label.ts';

const silent = { info: () => undefined, warn: () => undefined };

describe('LeaderPodLabel', () => {
  it('clears a stale label first, follows leadership with one write per change and removes it on stop', async () => {
    const writes: ('true' | null)[] = [];
    let leader = false;
    const label = new LeaderPodLabel({ isLeader: () => leader, write: (v) => Promise.resolve(void writes.push(v)), log: silent });
    await label.sync();
    await label.sync();
    leader = true;
    await label.sync();
    await label.sync();
    leader = false;
    await label.sync();
    leader = true;
    await label.sync();
    await label.stop();
    expect(writes).toEqual([null, 'true', null, 'true', null]);
  });

  it('retries a failed write at the next sync', async () => {
    const writes: ('true' | null)[] = [];
    let fail = true;
    const label = new LeaderPodLabel({
      isLeader: () => true,
      write: (v) => {
        writes.push(v);
        return fail ? Promise.reject(new Error('apiserver unavailable')) : Promise.resolve();
      },
      log: silent,
    });
    await label.sync();
    fail = false;
    await label.sync();
    await label.sync();
    expect(writes).toEqual(['true', 'true']);
  });
});

import { describe, expect, it } from 'vitest';
import { pollUntil } from '../util/poll.ts';
import { enqueueChanged } from './watches.ts';
import { WorkQueue } from './workqueue.ts';

/** A queue whose handler records each key and holds it until released. */
function heldQueue(): { queue: WorkQueue; started: string[]; release: (key: string) => void } {
  const started: string[] = [];
  const held = new Map<string, () => void>();
  const queue = new WorkQueue({
    concurrency: 1,
    handler: (key) => {
      started.push(key);
      return new Promise((resolve) => held.set(key, () => resolve(undefined)));
    },
  });
  return { queue, started, release: (key) => held.get(key)?.() };
}

const until = (probe: () => boolean, description: string): Promise<true> => pollUntil(() => (probe() ? true : undefined), { timeoutMs: 2000, description });

describe('enqueueChanged', () => {
  it('runs KeyVaultSyncs whose objects changed before periodic refreshes queued earlier', async () => {
    const { queue, started, release } = heldQueue();
    queue.start();
    queue.add('ns/busy');
    await until(() => started.length === 1, 'the running refresh');
    for (let i = 1; i <= 3; i++) queue.add(`ns/refresh-${i}`);
    enqueueChanged(['ns/changed', 'ns/refresh-3'], { syncs: queue });
    for (const key of ['ns/busy', 'ns/changed', 'ns/refresh-3', 'ns/refresh-1']) {
      release(key);
      await until(() => started.length === started.indexOf(key) + 2, `the run after ${key}`);
    }
    expect(started).toEqual(['ns/busy', 'ns/changed', 'ns/refresh-3', 'ns/refresh-1', 'ns/refresh-2']);
    release('ns/refresh-2');
    await queue.shutdown();
  });

  it('sends a ClusterKeyVaultSync (`/<name>`) to its own queue by name, at the same priority', () => {
    const added: string[] = [];
    const record = (queue: string) => ({ add: (key: string, priority?: string) => void added.push(`${queue} ${key} ${priority ?? 'normal'}`) });
    enqueueChanged(['ns/a', '/shared'], { syncs: record('syncs'), clusters: record('clusters') });
    expect(added).toEqual(['syncs ns/a high', 'clusters shared high']);
  });
});

/**
 * A decode worker for tests of the pool's time limit: the job whose value is {@link STALL} never
 * finishes (the thread blocks without using CPU until the pool terminates it) and tells the test so on
 * {@link STALL_CHANNEL}; every other job goes to the real worker. A decode that always outlives its
 * limit makes the test independent of how fast this machine derives keys.
 */
import { BroadcastChannel, parentPort } from 'node:worker_threads';
import type { DecodeJob } from '../decode-pool.ts';

export const STALL = 'stall';
export const STALL_CHANNEL = 'kvsync-decode-pool-stall';
export const stallingWorkerUrl = new URL(import.meta.url);

if (parentPort !== null) {
  // Registered before the real worker's listener, so a stalled job never reaches it.
  parentPort.on('message', (job: DecodeJob) => {
    if (job.value !== STALL) return;
    const channel = new BroadcastChannel(STALL_CHANNEL);
    channel.postMessage(job.id);
    channel.close();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  });
  await import('../decode-worker.ts');
}

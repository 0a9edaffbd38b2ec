/**
 * The controller trades some CPU for a much smaller heap: V8's `--optimize-for-size` (smaller heap
 * growth steps and young generation, earlier collections), set at run time before the controller's
 * modules load. Measured by `npm run bench` (1,000 KeyVaultSyncs refreshed every 20 s, 2 cores):
 * VmRSS after steady state 503 → 182 MiB and 198 → 151 MiB idle, for about 40 % more CPU in that
 * refresh-heavy state (46 s instead of 33 s over the run). The live data stay small (a heap snapshot at
 * 1,000 KeyVaultSyncs held ~87 MB, mostly module code); without the flag V8 grows the heap to several
 * times that under the steady allocation of watch events and API responses.
 */
import { setFlagsFromString } from 'node:v8';

export const SMALL_HEAP_FLAG = '--optimize-for-size';

/**
 * Applies {@link SMALL_HEAP_FLAG} to this process's V8 (affects heap sizing from now on), unless
 * `KVSYNC_SMALL_HEAP=false` opts out (more memory, less CPU). Idempotent.
 * @returns whether the flag was applied
 */
export function useSmallHeap(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.KVSYNC_SMALL_HEAP === 'false') return false;
  setFlagsFromString(SMALL_HEAP_FLAG);
  return true;
}

/**
 * The controller as the fault matrix runs it: `kvsync controller` (same flag parsing, same options,
 * same startController) in a process of its own, plus a sync-step observer that reports every step on
 * stdout and, at the step the test named, stops this process (SIGSTOP) so the test can kill it, keep
 * it frozen past its lease, or change the world while the sync is held at that exact point.
 *
 * Usage: node controller-process-entry.ts HARNESS_JSON -- <kvsync controller flags>
 * Every stdout line is JSON: the controller's log records, and `{"harness": ...}` records (see
 * {@link HarnessRecord}). Lines are written synchronously, so a record is out before the process stops.
 */
import { writeSync } from 'node:fs';
import { controllerOptions, loadKubeConfig, parseControllerArgs } from '../../../src/controller/command.ts';
import { startController } from '../../../src/controller/controller.ts';
import type { SyncStep, SyncStepContext } from '../../../src/controller/sync-observer.ts';
import { loadAzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { createLogger } from '../../../src/util/log.ts';

/** Where the process stops itself: the `occurrence`-th time (1 = first) a sync of `key` reaches `step`. */
export interface StopAt {
  step: SyncStep;
  /** `namespace/name` of the KeyVaultSync. */
  key: string;
  /** Default 1. */
  occurrence?: number;
}

export interface HarnessOptions {
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  stopAt?: StopAt;
}

export type HarnessRecord =
  | { harness: 'started'; identity: string; pid: number }
  | { harness: 'step'; step: SyncStep; key: string; secret?: string; versions: Record<string, string>; stopping: boolean }
  | { harness: 'leader'; leader: boolean };

function emit(record: HarnessRecord | string): void {
  writeSync(1, `${typeof record === 'string' ? record.trimEnd() : JSON.stringify(record)}\n`);
}

const [harnessJson = '{}', separator, ...flags] = process.argv.slice(2);
if (separator !== '--') throw new Error('usage: controller-process-entry.ts HARNESS_JSON -- <kvsync controller flags>');
const harness = JSON.parse(harnessJson) as HarnessOptions;
const args = parseControllerArgs(flags);
if (typeof args === 'number') process.exit(args);
const log = createLogger({ name: 'kvsync-controller', level: args.values['log-level'], format: 'json', destination: { write: (line) => emit(line) } });
const kc = loadKubeConfig(args.values.kubeconfig);
const azure = await loadAzureEnvironment({ allowedVaultHosts: args.allowedVaultHosts, ...(args.values['azure-endpoints'] === undefined ? {} : { endpointsFile: args.values['azure-endpoints'] }) });

let seen = 0;
const reached = (step: SyncStep, ctx: SyncStepContext): Promise<void> => {
  const key = `${ctx.namespace}/${ctx.name}`;
  const stop = harness.stopAt;
  const stopping = stop !== undefined && stop.step === step && stop.key === key && ++seen === (stop.occurrence ?? 1);
  emit({ harness: 'step', step, key, ...(ctx.secret === undefined ? {} : { secret: ctx.secret }), versions: Object.fromEntries(ctx.versions), stopping });
  // Frozen right here, mid-sync, until the test sends SIGCONT or SIGKILL.
  if (stopping) process.kill(process.pid, 'SIGSTOP');
  return Promise.resolve();
};

const controller = await startController({
  ...controllerOptions(args, kc, azure, log),
  identity: harness.identity,
  ...(harness.leaseDurationMs === undefined ? {} : { leaseDurationMs: harness.leaseDurationMs }),
  ...(harness.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: harness.renewDeadlineMs }),
  ...(harness.retryPeriodMs === undefined ? {} : { retryPeriodMs: harness.retryPeriodMs }),
  syncSteps: { reached },
});
emit({ harness: 'started', identity: controller.identity, pid: process.pid });
// Leadership as the write fence sees it, reported on each change.
let leading = false;
const leaderWatch = setInterval(() => {
  if (controller.isLeader() === leading) return;
  leading = !leading;
  emit({ harness: 'leader', leader: leading });
}, 50);
process.once('SIGTERM', () => {
  clearInterval(leaderWatch);
  void controller.stop().then(() => process.exit(0));
});

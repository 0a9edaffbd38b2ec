/**
 * Routes Event Grid to the leader: only the leader refreshes, and Event Grid delivers each event to
 * ONE endpoint, so the Service in front of `--eventgrid-addr` should select the leader's pod only.
 * Readiness is per pod (it would also take the admission webhook, served by every replica, out of
 * its Service), so the leader labels its own pod `kvsync.dev/eventgrid-leader: "true"` instead and the
 * Event Grid Service selects on that label. Every replica reconciles its own pod's label with
 * `isLeader()` every second and removes it on stop; a replica reached anyway (a stale label during a
 * hand-over) answers 503 and Event Grid retries.
 */
import * as k8s from '@kubernetes/client-node';
import type { EventGridLogger } from './endpoint.ts';

export const EVENTGRID_LEADER_LABEL = 'kvsync.dev/eventgrid-leader';

/** Sets (`'true'`) or removes (`null`) the label on this replica's pod. */
export type PodLabelWriter = (value: 'true' | null) => Promise<void>;

/** A JSON merge patch of the pod's labels (needs `patch` on pods in the operator namespace). */
export function kubePodLabelWriter(kc: k8s.KubeConfig, namespace: string, podName: string): PodLabelWriter {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return async (value) => {
    await core.patchNamespacedPod(
      { namespace, name: podName, body: { metadata: { labels: { [EVENTGRID_LEADER_LABEL]: value } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  };
}

export interface LeaderPodLabelOptions {
  isLeader: () => boolean;
  write: PodLabelWriter;
  log: EventGridLogger;
  /** How often the label is compared with `isLeader()`; default 1 s. */
  intervalMs?: number;
}

export class LeaderPodLabel {
  readonly #o: LeaderPodLabelOptions;
  #timer: NodeJS.Timeout | undefined;
  /** What the pod carries as far as we know; undefined = not written yet (a restarted replica may have a stale label). */
  #applied: boolean | undefined;
  #busy: Promise<void> = Promise.resolve();

  constructor(o: LeaderPodLabelOptions) {
    this.#o = o;
  }

  /** Writes the label if it differs from leadership; a failed write is retried at the next tick. */
  sync(): Promise<void> {
    this.#busy = this.#busy.then(async () => {
      const leader = this.#o.isLeader();
      if (this.#applied === leader) return;
      try {
        await this.#o.write(leader ? 'true' : null);
        this.#applied = leader;
        this.#o.log.info({ label: EVENTGRID_LEADER_LABEL, leader }, leader ? 'Event Grid: this pod now receives pushes (leader label set)' : 'Event Grid: leader label removed from this pod');
      } catch (err) {
        this.#o.log.warn({ err: err instanceof Error ? err.message.split('\n')[0] : String(err) }, 'Event Grid: updating the leader label of this pod failed; retrying');
      }
    });
    return this.#busy;
  }

  start(): void {
    void this.sync();
    this.#timer = setInterval(() => void this.sync(), this.#o.intervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Stops the ticks and removes the label (best effort: the pod may be going away anyway). */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#busy;
    if (this.#applied === false) return;
    try {
      await this.#o.write(null);
      this.#applied = false;
    } catch (err) {
      this.#o.log.warn({ err: err instanceof Error ? err.message.split('\n')[0] : String(err) }, 'Event Grid: removing the leader label failed');
    }
  }
}

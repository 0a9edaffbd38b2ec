/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * - acquire: create the Lease, or take it over when its holder has not renewed it for
 *   `leaseDurationMs` (measured on OUR clock from when we last saw the record change, so clock skew
 *   between replicas does not matter);
 * - renew: the leader rewrites renewTime every `retryPeriodMs`; when it has not managed to renew for
 *   `renewDeadlineMs` it gives up leadership at once (stops writing) — before another replica may take over;
 * - fence: {@link LeaderElector.isLeader} is also false once `renewDeadlineMs` has passed since the last
 *   successful renewal began, even before the loop notices: a process frozen past its lease (SIGSTOP, a
 *   stalled VM) and resumed must not finish a write it started as leader before the loop runs again;
 * - every write carries the resourceVersion read, so two replicas never both win (HTTP 409).
 * - release on shutdown: holder cleared so the next replica does not wait for the lease to expire.
 */
import * as k8s from '@kubernetes/client-node';
import { KvsyncError } from '../util/errors.ts';

export interface LeaseRecord {
  holderIdentity: string | undefined;
  leaseDurationSeconds: number | undefined;
  acquireTime: Date | undefined;
  renewTime: Date | undefined;
  leaseTransitions: number | undefined;
  resourceVersion: string | undefined;
}

/** The Lease operations leader election needs; {@link KubeLeaseClient} in production. */
export interface LeaseClient {
  get(): Promise<LeaseRecord | undefined>;
  /** Throws {@link LeaseConflictError} when the Lease already exists. */
  create(record: LeaseRecord): Promise<LeaseRecord>;
  /** Throws {@link LeaseConflictError} when `record.resourceVersion` is stale. */
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export class LeaseConflictError extends KvsyncError<'LeaseConflict'> {
  override readonly name = 'LeaseConflictError';
  constructor(message: string) {
    super('LeaseConflict', message);
  }
}

export interface LeaderElectionOptions {
  identity: string;
  client: LeaseClient;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onError?: (err: unknown) => void;
}

export class LeaderElector {
  readonly identity: string;
  readonly #client: LeaseClient;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #now: () => number;
  readonly #opts: LeaderElectionOptions;
  #leader = false;
  #lastRenew = 0;
  /** When (our clock) the request of the last successful acquire or renew was started: the lease is ours from then. */
  #renewStartedAt = 0;
  /** The last record seen and when (our clock) it was first seen in that form. */
  #observed: { key: string; at: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.identity = opts.identity;
    this.#client = opts.client;
    this.#leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.#now = opts.now ?? Date.now;
    this.#opts = opts;
  }

  /** Holds the lease now: acquired, and renewed less than `renewDeadlineMs` ago (checked at each call). */
  isLeader(): boolean {
    return this.#leader && this.#now() - this.#renewStartedAt < this.#renewDeadlineMs;
  }

  /**
   * One acquire-or-renew attempt; updates leadership and fires the callbacks. Returns whether this
   * replica holds the lease afterwards. Never throws (errors go to onError and count as a failed renew).
   */
  async tick(): Promise<boolean> {
    let holds = false;
    const startedAt = this.#now();
    try {
      holds = await this.#tryAcquireOrRenew();
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) this.#opts.onError?.(err);
    }
    const now = this.#now();
    if (holds) {
      // The fence closed at some point since the previous renewal (this one came too late, or the process
      // was frozen): whatever was dropped meanwhile is lost to this term, so leadership ends and starts
      // again, and the new term's start re-queues everything.
      if (this.#leader && now - this.#renewStartedAt >= this.#renewDeadlineMs) this.#loseLeadership();
      this.#lastRenew = now;
      this.#renewStartedAt = startedAt;
      if (!this.#leader) {
        this.#leader = true;
        this.#opts.onStartedLeading?.();
      }
    } else if (this.#leader && (this.#observedOtherHolder || now - this.#lastRenew >= this.#renewDeadlineMs)) {
      this.#loseLeadership();
    }
    return this.#leader;
  }

  #observedOtherHolder = false;

  async #tryAcquireOrRenew(): Promise<boolean> {
    this.#observedOtherHolder = false;
    const now = this.#now();
    const current = await this.#client.get();
    const mine: LeaseRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
      acquireTime: new Date(now),
      renewTime: new Date(now),
      leaseTransitions: 0,
      resourceVersion: undefined,
    };
    if (current === undefined) {
      await this.#client.create(mine);
      this.#observe(mine, now);
      return true;
    }
    this.#observe(current, now);
    const holder = current.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== this.identity;
    if (heldByOther) {
      this.#observedOtherHolder = true;
      const durationMs = (current.leaseDurationSeconds ?? Math.ceil(this.#leaseDurationMs / 1000)) * 1000;
      if (this.#observed !== undefined && now - this.#observed.at < durationMs) return false;
    }
    const next: LeaseRecord = {
      ...mine,
      resourceVersion: current.resourceVersion,
      acquireTime: holder === this.identity ? (current.acquireTime ?? mine.acquireTime) : mine.acquireTime,
      leaseTransitions: (current.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1),
    };
    const written = await this.#client.update(next);
    this.#observedOtherHolder = false;
    this.#observe(written, now);
    return true;
  }

  #observe(record: LeaseRecord, now: number): void {
    const key = `${record.holderIdentity ?? ''}|${record.renewTime?.getTime() ?? ''}|${record.resourceVersion ?? ''}`;
    if (this.#observed?.key !== key) this.#observed = { key, at: now };
  }

  #loseLeadership(): void {
    this.#leader = false;
    this.#opts.onStoppedLeading?.();
  }

  /** Runs the acquire/renew loop every retry period until {@link stop}. */
  start(): void {
    const step = async (): Promise<void> => {
      if (this.#stopped) return;
      await this.tick();
      if (this.#stopped) return;
      this.#timer = setTimeout(() => {
        this.#loop = step();
      }, this.#retryPeriodMs);
    };
    this.#loop = step();
  }

  /** Stops the loop and, when leading, releases the lease (holder cleared) so another replica takes over now. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#loop;
    if (!this.#leader) return;
    this.#loseLeadership();
    try {
      const current = await this.#client.get();
      if (current?.holderIdentity === this.identity) {
        await this.#client.update({ ...current, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new Date(this.#now()) });
      }
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) this.#opts.onError?.(err);
    }
  }
}

/** A Lease in one namespace through CoordinationV1Api. */
export class KubeLeaseClient implements LeaseClient {
  readonly #api: k8s.CoordinationV1Api;
  readonly #namespace: string;
  readonly #name: string;

  constructor(kc: k8s.KubeConfig, namespace: string, name: string) {
    this.#api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.#namespace = namespace;
    this.#name = name;
  }

  async get(): Promise<LeaseRecord | undefined> {
    try {
      return fromLease(await this.#api.readNamespacedLease({ name: this.#name, namespace: this.#namespace }));
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    try {
      return fromLease(await this.#api.createNamespacedLease({ namespace: this.#namespace, body: this.#toLease(record) }));
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 409) throw new LeaseConflictError(`Lease ${this.#namespace}/${this.#name} already exists`);
      throw err;
    }
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    try {
      return fromLease(await this.#api.replaceNamespacedLease({ name: this.#name, namespace: this.#namespace, body: this.#toLease(record) }));
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 409) throw new LeaseConflictError(`Lease ${this.#namespace}/${this.#name} changed meanwhile`);
      throw err;
    }
  }

  #toLease(r: LeaseRecord): k8s.V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#name, namespace: this.#namespace, resourceVersion: r.resourceVersion },
      spec: {
        holderIdentity: r.holderIdentity,
        leaseDurationSeconds: r.leaseDurationSeconds,
        acquireTime: r.acquireTime === undefined ? undefined : new MicroTime(r.acquireTime.getTime()),
        renewTime: r.renewTime === undefined ? undefined : new MicroTime(r.renewTime.getTime()),
        leaseTransitions: r.leaseTransitions,
      },
    };
  }
}

/**
 * Lease times are metav1.MicroTime, which the apiserver parses with exactly six fractional digits;
 * client-node passes Date objects through to JSON.stringify, whose millisecond form it refuses (400).
 */
class MicroTime extends Date {
  override toJSON(): string {
    return this.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  }
}

/** client-node leaves MicroTime fields as the wire string although the model types them as Date. */
function asDate(v: Date | string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function fromLease(l: k8s.V1Lease): LeaseRecord {
  return {
    holderIdentity: l.spec?.holderIdentity,
    leaseDurationSeconds: l.spec?.leaseDurationSeconds,
    acquireTime: asDate(l.spec?.acquireTime),
    renewTime: asDate(l.spec?.renewTime),
    leaseTransitions: l.spec?.leaseTransitions,
    resourceVersion: l.metadata?.resourceVersion,
  };
}

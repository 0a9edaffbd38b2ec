/**
 * Rolls workloads when the data of a KeyVaultSync's Secrets really changed: the KeyVaultSync's
 * `spec.restartTargets`, workloads annotated `kvsync.dev/reload: "true"` that reference one of its
 * Secrets, and workloads whose pod template uses the webhook's env injection for it (env vars never
 * refresh by themselves).
 *
 * A rollout sets ONE pod-template annotation, `kvsync.dev/restarted-for: <kvs>:<hash>`, where the hash
 * is keyed (the MAC key) over the data MACs of the Secrets the workload uses. The value follows the
 * data, not the clock, so rolling again for the same change is a no-op: a workload whose template
 * already carries the value is skipped, and re-applying it would not change the template anyway.
 * Never on a first sync, never on an unchanged refresh (sync-observer.ts decides what changed).
 *
 * The annotation is written by server-side apply (field manager `kvsync`) of just that field: no
 * read-modify-write race with other writers of the workload, the ownership of exactly that annotation
 * is visible in managedFields, and a GitOps tool applying the rest of the manifest neither conflicts
 * with it nor removes it. Workloads are listed in the KeyVaultSync's namespace only when a change
 * happened (changes are rare; no cache of workloads is kept).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { selectorMatches, type ResolvedKeyVaultSync } from '../api/index.ts';
import type { EventRecorder } from './events.ts';
import { macHmac } from './mac.ts';
import { FIELD_MANAGER } from './labels.ts';
import type { SyncObserver, SyncedContext } from './sync-observer.ts';
import { secretsInjectedFrom, secretsReferencedBy } from './workload-refs.ts';

/** Pod-template annotation kvsync sets to roll a workload. */
export const RESTARTED_FOR_ANNOTATION = 'kvsync.dev/restarted-for';
/** Workload annotation opting into rollouts when a kvsync-managed Secret it references changes. */
export const RELOAD_ANNOTATION = 'kvsync.dev/reload';

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** A Deployment, StatefulSet or DaemonSet, as far as rollouts care. */
export interface Workload {
  kind: WorkloadKind;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  template: k8s.V1PodTemplateSpec | undefined;
}

/** The Kubernetes side of rollouts; {@link KubeWorkloadApi} in production. */
export interface WorkloadApi {
  /** Every workload of a kind in a namespace. @throws the apiserver's error */
  list(namespace: string, kind: WorkloadKind): Promise<Workload[]>;
  /** Sets one pod-template annotation of an existing workload. @throws the apiserver's error */
  setTemplateAnnotation(namespace: string, kind: WorkloadKind, name: string, key: string, value: string): Promise<void>;
}

export interface RolloutMetrics {
  restartTriggered(namespace: string, kind: WorkloadKind): void;
}

export type RolloutReason = 'restartTarget' | 'reload' | 'envInjection';

export interface PlannedRollout {
  kind: WorkloadKind;
  name: string;
  reasons: RolloutReason[];
  /** Changed Secrets of the KeyVaultSync that the workload uses (every changed one for a restart target). */
  changed: string[];
  /** The annotation value for the current data. */
  value: string;
}

export interface RolloutPlan {
  rollouts: PlannedRollout[];
  /** Workloads that would be rolled but already carry the value (rolled for this data before). */
  alreadyRolled: string[];
  /** Restart targets that match nothing, e.g. `Deployment "web"`. */
  missing: string[];
}

/** `<kvs>:<20 hex>`: HMAC-SHA256 (MAC key) over the used Secrets' names and data MACs, sorted. */
export function rolloutValue(macKey: Buffer, syncName: string, used: Iterable<string>, macs: ReadonlyMap<string, string>): string {
  const hmac = macHmac(macKey).update(`kvsync-rollout\0${syncName}\0`);
  for (const name of [...new Set(used)].sort()) hmac.update(`${name}\0${macs.get(name) ?? ''}\0`);
  return `${syncName}:${hmac.digest('hex').slice(0, 20)}`;
}

function describeSelector(s: NonNullable<ResolvedKeyVaultSync['restartTargets'][number]['selector']>): string {
  const parts = [...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`), ...(s.matchExpressions ?? []).map((e) => `${e.key} ${e.operator} (${(e.values ?? []).join(',')})`)];
  return parts.length === 0 ? 'any labels' : parts.join(', ');
}

/**
 * Which workloads to roll for a change of `changedSecrets` (pure). `secretMacs` holds the data MAC
 * of every Secret of the KeyVaultSync now.
 */
export function planRollouts(input: {
  sync: ResolvedKeyVaultSync;
  namespace: string;
  workloads: readonly Workload[];
  changedSecrets: readonly string[];
  secretMacs: ReadonlyMap<string, string>;
  macKey: Buffer;
}): RolloutPlan {
  const { sync, namespace, workloads, secretMacs } = input;
  const changed = new Set(input.changedSecrets);
  const syncName = sync.name ?? '';
  const ours = new Set(secretMacs.keys());
  const plan: RolloutPlan = { rollouts: [], alreadyRolled: [], missing: [] };
  if (changed.size === 0) return plan;

  const targeted = new Set<Workload>();
  for (const t of sync.restartTargets) {
    const matches = workloads.filter((w) => w.kind === t.kind && (t.name !== undefined ? w.name === t.name : t.selector !== undefined && selectorMatches(t.selector, w.labels)));
    if (matches.length === 0) plan.missing.push(t.name !== undefined ? `${t.kind} "${t.name}"` : `${t.kind} with ${describeSelector(t.selector ?? {})}`);
    for (const w of matches) targeted.add(w);
  }
  for (const w of workloads) {
    const reasons: RolloutReason[] = [];
    const used = new Set<string>();
    if (targeted.has(w)) {
      reasons.push('restartTarget');
      for (const s of ours) used.add(s);
    }
    if (w.annotations[RELOAD_ANNOTATION] === 'true') {
      const refs = [...secretsReferencedBy(w.template)].filter((s) => ours.has(s));
      if (refs.some((s) => changed.has(s))) reasons.push('reload');
      for (const s of refs) used.add(s);
    }
    const injected = [...secretsInjectedFrom(w.template, sync, namespace)];
    if (injected.some((s) => changed.has(s))) reasons.push('envInjection');
    for (const s of injected) used.add(s);
    if (reasons.length === 0) continue;
    const value = rolloutValue(input.macKey, syncName, used, secretMacs);
    if (w.template?.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION] === value) {
      plan.alreadyRolled.push(`${w.kind} ${w.name}`);
      continue;
    }
    plan.rollouts.push({ kind: w.kind, name: w.name, reasons, changed: [...used].filter((s) => changed.has(s)).sort(), value });
  }
  return plan;
}

/** The {@link SyncObserver} that rolls workloads; failures become Warning events, never a failed sync. */
export class RolloutTrigger implements SyncObserver {
  readonly #d: { api: WorkloadApi; events: EventRecorder; macKey: Buffer; isLeader: () => boolean; log: Logger; metrics?: RolloutMetrics | undefined };

  constructor(deps: { api: WorkloadApi; events: EventRecorder; macKey: Buffer; isLeader: () => boolean; log: Logger; metrics?: RolloutMetrics | undefined }) {
    this.#d = deps;
  }

  async synced(ctx: SyncedContext): Promise<void> {
    if (ctx.firstSync || ctx.changedSecrets.length === 0) return;
    const log = this.#d.log.child({ keyVaultSync: `${ctx.target.namespace}/${ctx.target.name}` });
    try {
      await this.#rollOut(ctx, log);
    } catch (err) {
      // Rollouts never fail a sync (the Secrets are already written).
      log.error({ errName: err instanceof Error ? err.name : typeof err }, 'rollouts failed unexpectedly');
    }
  }

  async #rollOut(ctx: SyncedContext, log: Logger): Promise<void> {
    const { namespace } = ctx.target;
    const workloads: Workload[] = [];
    // The kinds are listed at once (one round trip of waiting, not three); failures are told in kind order.
    const listed = await Promise.allSettled(WORKLOAD_KINDS.map((kind) => this.#d.api.list(namespace, kind)));
    for (const [i, kind] of WORKLOAD_KINDS.entries()) {
      const result = listed[i];
      if (result?.status === 'fulfilled') workloads.push(...result.value);
      else {
        const err: unknown = result?.reason;
        log.warn({ kind, code: statusCode(err) }, 'listing workloads for rollouts failed');
        await this.#d.events.record(ctx.target, 'Warning', 'RolloutFailed', `listing ${kind}s in namespace ${namespace} failed${codeText(err)}; workloads of that kind were not rolled`);
      }
    }
    const plan = planRollouts({ sync: ctx.sync, namespace, workloads, changedSecrets: ctx.changedSecrets, secretMacs: ctx.secretMacs, macKey: this.#d.macKey });
    for (const m of plan.missing) {
      await this.#d.events.record(ctx.target, 'Warning', 'RestartTargetNotFound', `restartTargets: no ${m} in namespace ${namespace}; nothing rolled for it`);
    }
    const rolled: PlannedRollout[] = [];
    for (const r of plan.rollouts) {
      if (!this.#d.isLeader()) return;
      try {
        await this.#d.api.setTemplateAnnotation(namespace, r.kind, r.name, RESTARTED_FOR_ANNOTATION, r.value);
        rolled.push(r);
        this.#d.metrics?.restartTriggered(namespace, r.kind);
      } catch (err) {
        log.warn({ kind: r.kind, name: r.name, code: statusCode(err) }, 'rolling a workload failed');
        await this.#d.events.record(ctx.target, 'Warning', 'RolloutFailed', `rolling ${r.kind} ${r.name} failed${codeText(err)}`);
      }
    }
    if (rolled.length > 0) {
      const names = rolled.map((r) => `${r.kind} ${r.name}`).join(', ');
      const secrets = [...new Set(rolled.flatMap((r) => r.changed))].sort();
      await this.#d.events.record(ctx.target, 'Normal', 'RolledOut', `rolled ${names}: data of Secret ${secrets.join(', ')} changed`);
    }
    log.info({ rolled: rolled.map((r) => ({ kind: r.kind, name: r.name, reasons: r.reasons })), alreadyRolled: plan.alreadyRolled, missing: plan.missing, changedSecrets: ctx.changedSecrets }, 'rollouts after a data change');
  }
}

function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

function codeText(err: unknown): string {
  const code = statusCode(err);
  return code === undefined ? '' : ` (HTTP ${code})`;
}

/** Lists and patches apps/v1 workloads; the annotation is set by server-side apply of only that field. */
export class KubeWorkloadApi implements WorkloadApi {
  readonly #apps: k8s.AppsV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.#apps = kc.makeApiClient(k8s.AppsV1Api);
  }

  async list(namespace: string, kind: WorkloadKind): Promise<Workload[]> {
    const items: (k8s.V1Deployment | k8s.V1StatefulSet | k8s.V1DaemonSet)[] =
      kind === 'Deployment'
        ? (await this.#apps.listNamespacedDeployment({ namespace })).items
        : kind === 'StatefulSet'
          ? (await this.#apps.listNamespacedStatefulSet({ namespace })).items
          : (await this.#apps.listNamespacedDaemonSet({ namespace })).items;
    return items.map((o) => ({ kind, name: o.metadata?.name ?? '', labels: o.metadata?.labels ?? {}, annotations: o.metadata?.annotations ?? {}, template: o.spec?.template }));
  }

  async setTemplateAnnotation(namespace: string, kind: WorkloadKind, name: string, key: string, value: string): Promise<void> {
    const body = { apiVersion: 'apps/v1', kind, metadata: { name, namespace }, spec: { template: { metadata: { annotations: { [key]: value } } } } };
    const req = { name, namespace, body, fieldManager: FIELD_MANAGER, force: true };
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
    if (kind === 'Deployment') await this.#apps.patchNamespacedDeployment(req, opts);
    else if (kind === 'StatefulSet') await this.#apps.patchNamespacedStatefulSet(req, opts);
    else await this.#apps.patchNamespacedDaemonSet(req, opts);
  }
}

/**
 * What a chaos run creates and when it injects faults, derived from the seed alone (so `--seed`
 * replays the same plan): the Key Vault objects, the KeyVaultSyncs over them, the mount sidecars, and
 * the fault schedule.
 */
import type { SeededRandom } from './random.ts';

export interface SyncPlan {
  name: string;
  secretName: string;
  /** Opaque: one key per secret object; tls: one certificate as a kubernetes.io/tls Secret. */
  kind: 'opaque' | 'tls';
  objects: string[];
}

export interface MountPlan {
  name: string;
  secrets: string[];
  certificate: string;
}

export const FAULT_KINDS = [
  'kv-429',
  'kv-429-no-retry-after',
  'kv-5xx',
  'kv-latency',
  'kv-drop',
  'clock-skew',
  'controller-kill',
  'leader-stop',
  'apiserver-pause',
  'mount-kill',
  'apiserver-restart',
  'etcd-restart',
  'entra-outage',
  'imds-outage',
  'certificate-pending',
  'secret-disabled',
  'secret-deleted',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * The kinds a short run draws (the short test in `npm test`): every kind but the control-plane
 * restarts and the token outages, which last tens of seconds each (an outage must outlast a token) and
 * would not fit a 75-second phase beside the others.
 */
// Also left out: the object-lifecycle kinds. Each begins with a write of the run's own to Key Vault, refused
// like every other request while a 429, 5xx or dropped-connection fault lasts, and in 75 seconds those
// overlap for long stretches (seed 266529354 refuses every write from 46 s to the end but for 0.8 s): such a
// fault may never begin before the phase ends, and the short test requires every kind it draws to be injected.
export const SHORT_RUN_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => !['apiserver-restart', 'etcd-restart', 'entra-outage', 'imds-outage', 'secret-deleted', 'secret-disabled', 'certificate-pending'].includes(k));

/**
 * The lifetime of the access tokens Entra ID and IMDS issue during a run (the emulator's
 * `PUT /admin/token-lifetime`), so that a token outage outlasts a token and every credential renews
 * many times.
 */
export const TOKEN_LIFETIME_SECONDS = 30;

export interface ScheduledFault {
  /** Offset from the start of the fault phase. */
  atMs: number;
  kind: FaultKind;
  /** How long the fault lasts (for a kill: how long the process stays down). */
  durationMs: number;
  /** Kind-specific figures: status, latency, skew, which replica, mount, secret or certificate (an index). */
  detail: Record<string, number | null>;
}

export interface ChaosPlan {
  secrets: string[];
  certificates: string[];
  syncs: SyncPlan[];
  mounts: MountPlan[];
  faults: ScheduledFault[];
}

const pad = (i: number): string => String(i).padStart(4, '0');

/**
 * `kvs` KeyVaultSyncs: a fifth of them TLS Secrets over a pool of certificates (three per certificate),
 * the rest Opaque Secrets of two secrets each over a pool of secrets (each shared by eight), so rotations
 * reach many Secrets at once through shared reads.
 */
export function planObjects(rng: SeededRandom, kvs: number, mounts: number): Omit<ChaosPlan, 'faults'> {
  const tlsCount = Math.max(1, Math.round(kvs * 0.2));
  const opaqueCount = Math.max(1, kvs - tlsCount);
  const certificates = Array.from({ length: Math.max(2, Math.round(tlsCount / 3)) }, (_, i) => `cert-${pad(i)}`);
  const secrets = Array.from({ length: Math.max(4, Math.round(opaqueCount / 4)) }, (_, i) => `secret-${pad(i)}`);
  const syncs: SyncPlan[] = [];
  for (let i = 0; i < opaqueCount; i++) {
    const first = rng.pick(secrets);
    let second = rng.pick(secrets);
    while (second === first) second = rng.pick(secrets);
    syncs.push({ name: `opaque-${pad(i)}`, secretName: `opaque-${pad(i)}`, kind: 'opaque', objects: [first, second] });
  }
  for (let i = 0; i < tlsCount; i++) syncs.push({ name: `tls-${pad(i)}`, secretName: `tls-${pad(i)}`, kind: 'tls', objects: [rng.pick(certificates)] });
  const mountPlans = Array.from({ length: mounts }, (_, i) => {
    const first = rng.pick(secrets);
    let second = rng.pick(secrets);
    while (second === first) second = rng.pick(secrets);
    return { name: `mount-${i}`, secrets: [first, second], certificate: rng.pick(certificates) };
  });
  return { secrets, certificates, syncs, mounts: mountPlans };
}

/** The lease duration of the controller's leader election (its default): a stopped leader must stay stopped past it. */
export const LEASE_MS = 15_000;

function faultOf(rng: SeededRandom, kind: FaultKind, atMs: number, mounts: number): ScheduledFault {
  // Objects are drawn as an index into the plan's list (picked when the fault begins, skipping busy ones).
  const object = (): number => rng.int(0, 9999);
  const s = (min: number, max: number): number => rng.int(min, max) * 1000;
  switch (kind) {
    case 'kv-429':
      return { atMs, kind, durationMs: s(5, 20), detail: { status: 429, retryAfterSeconds: rng.int(1, 5) } };
    case 'kv-429-no-retry-after':
      return { atMs, kind, durationMs: s(5, 15), detail: { status: 429, retryAfterSeconds: null } };
    case 'kv-5xx':
      return { atMs, kind, durationMs: s(5, 20), detail: { status: rng.pick([500, 503]) } };
    case 'kv-latency':
      return { atMs, kind, durationMs: s(10, 20), detail: { latencyMs: rng.int(5, 30) * 100 } };
    case 'kv-drop':
      return { atMs, kind, durationMs: s(5, 15), detail: {} };
    case 'clock-skew':
      // Within Entra's 5-minute back-dating of nbf, so tokens stay valid both ways; larger skews are
      // a fault-matrix row of their own.
      return { atMs, kind, durationMs: s(10, 30), detail: { offsetSeconds: rng.pick([-1, 1]) * rng.int(30, 240) } };
    case 'controller-kill':
      return { atMs, kind, durationMs: s(2, 8), detail: { replica: rng.int(0, 1) } };
    case 'leader-stop':
      return { atMs, kind, durationMs: LEASE_MS + s(3, 15), detail: {} };
    case 'apiserver-pause':
      return { atMs, kind, durationMs: s(3, 10), detail: {} };
    case 'mount-kill':
      return { atMs, kind, durationMs: s(1, 3), detail: { mount: rng.int(0, Math.max(0, mounts - 1)) } };
    case 'apiserver-restart':
    case 'etcd-restart':
      // A restart ends when the process is ready again; the duration is only how long it counts as busy.
      return { atMs, kind, durationMs: 0, detail: {} };
    case 'entra-outage':
    case 'imds-outage':
      // Longer than a token's lifetime, so tokens expire during the outage and cannot be renewed.
      return { atMs, kind, durationMs: TOKEN_LIFETIME_SECONDS * 1000 + s(5, 15), detail: {} };
    case 'certificate-pending':
      return { atMs, kind, durationMs: s(5, 25), detail: { certificate: object() } };
    case 'secret-disabled':
    case 'secret-deleted':
      return { atMs, kind, durationMs: s(5, 30), detail: { secret: object() } };
  }
}

/**
 * Faults from 5 s into the phase until 10 s before its end, one every `gap` on average (at most 12 s,
 * less in a short run so that a whole round fits even when every gap is the longest, 1.5 × the mean): each round is a shuffled order of every kind given (all by default), so even a
 * short run sees each of them. Faults may overlap; each is bounded in time.
 */
export function scheduleFaults(rng: SeededRandom, phaseMs: number, mounts: number, only: readonly FaultKind[] = FAULT_KINDS): ScheduledFault[] {
  const kinds = only.filter((k) => mounts > 0 || k !== 'mount-kill');
  const meanGapMs = Math.max(2000, Math.min(12_000, (phaseMs - 15_000) / (1.5 * kinds.length)));
  const out: ScheduledFault[] = [];
  let at = 5000;
  for (;;) {
    const round = [...kinds];
    for (let i = round.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [round[i], round[j]] = [round[j] as FaultKind, round[i] as FaultKind];
    }
    for (const kind of round) {
      if (at > phaseMs - 10_000) return out;
      out.push(faultOf(rng, kind, at, mounts));
      at += Math.round(meanGapMs * (0.5 + rng.next()));
    }
  }
}

/**
 * The chaos soak's invariant checker, independent of the controller's code: it knows only what the run
 * wrote to Key Vault (VaultHistory) and what it observed in Secrets and mounted files, and judges each
 * observed state with node:crypto alone.
 *
 * - Every observed state is a complete render: exactly the expected keys, each holding a version Key
 *   Vault held (a secret's value, a certificate's leaf), a TLS pair or PEM bundle whose key matches its
 *   certificate.
 * - Versions never go back: once a target showed an object's version N, it never shows an older one.
 * - Managed Secrets are never deleted; unmanaged ones are never touched (reported by the watchers).
 *
 * Evidence names targets, objects, keys and digests of values, never the values themselves.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';

/**
 * What the run wrote to Key Vault, in write order: a secret's values, a certificate's leaf fingerprints.
 * A certificate version Key Vault issues itself (a pending creation) is known only once it completes:
 * it is announced first and recorded when the run reads it, and judgements that need it wait until then.
 */
export class VaultHistory {
  readonly #versions = new Map<string, string[]>();
  readonly #announced = new Map<string, number>();
  readonly #listeners: (() => void)[] = [];

  /** Records a version before it is written, so a reader can never see a version the history lacks. */
  record(object: string, token: string): void {
    const list = this.#versions.get(object) ?? [];
    if (!list.includes(token)) list.push(token);
    this.#versions.set(object, list);
  }

  /** A version of `object` is being written whose token is known only once Key Vault completes it. */
  announce(object: string): void {
    this.#announced.set(object, (this.#announced.get(object) ?? 0) + 1);
  }

  /** The announced version was recorded (or its write failed): what waited for it is judged now. */
  settle(object: string): void {
    const n = (this.#announced.get(object) ?? 0) - 1;
    if (n > 0) this.#announced.set(object, n);
    else this.#announced.delete(object);
    for (const listener of this.#listeners) listener();
  }

  /** True while a version of `object` is announced and not yet recorded. */
  awaiting(object: string): boolean {
    return this.#announced.has(object);
  }

  onSettle(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** The version's position in write order; -1 when the run never wrote it. */
  indexOf(object: string, token: string): number {
    return this.#versions.get(object)?.indexOf(token) ?? -1;
  }

  versions(object: string): readonly string[] {
    return this.#versions.get(object) ?? [];
  }

  objects(): string[] {
    return [...this.#versions.keys()];
  }
}

/** How one object appears in a target. */
export type Entry =
  /** A secret's value under a key (or file). */
  | { kind: 'value'; key: string; object: string }
  /** A certificate as a kubernetes.io/tls pair. */
  | { kind: 'tls-pair'; certKey: string; keyKey: string; object: string }
  /** A certificate as one PEM file: the private key, then the chain, leaf first. */
  | { kind: 'pem-bundle'; key: string; object: string };

/** A Secret or a mounted directory the controller or a sidecar keeps. */
export interface Target {
  /** e.g. `secret chaos/kvs-0001` or `mount mount-0`. */
  id: string;
  entries: Entry[];
  /** Keys that may appear besides the entries' (a TLS Secret's `ca.crt`). */
  optionalKeys?: string[];
}

export type ViolationKind =
  | 'incomplete-render'
  | 'unknown-version'
  | 'key-mismatch'
  | 'older-version'
  | 'managed-deleted'
  | 'unmanaged-touched'
  | 'process-died'
  | 'memory-growth'
  | 'not-converged';

export interface Problem {
  kind: ViolationKind;
  evidence: string;
  /** The object whose version the problem is about (unknown-version). */
  object?: string;
}

export interface RenderCheck {
  problems: Problem[];
  /** Object → index in the history of the version the state holds (objects whose version is known). */
  versions: Map<string, number>;
}

/** A short digest of a value, for evidence. */
export function digest(value: Buffer | string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)}`;
}

const CERT_PEM = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_PEM = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]*?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/** The certificates of a PEM text, in order. */
export function certificatesOf(pem: string): X509Certificate[] {
  return (pem.match(CERT_PEM) ?? []).map((block) => new X509Certificate(block));
}

/** True when the private key's public half is the certificate's public key. */
export function keyMatchesCertificate(keyPem: string, cert: X509Certificate): boolean {
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  return fromKey.equals(fromCert);
}

/** The history token of a certificate version: its leaf's SHA-256 fingerprint. */
export function certificateToken(cert: X509Certificate): string {
  return cert.fingerprint256;
}

function checkCertificate(object: string, where: string, certPem: string, keyPem: string | undefined, history: VaultHistory, out: RenderCheck): void {
  let certs: X509Certificate[];
  try {
    certs = certificatesOf(certPem);
  } catch {
    out.problems.push({ kind: 'incomplete-render', evidence: `${where}: a certificate that does not parse` });
    return;
  }
  const leaf = certs[0];
  if (leaf === undefined) {
    out.problems.push({ kind: 'incomplete-render', evidence: `${where}: no certificate` });
    return;
  }
  const index = history.indexOf(object, certificateToken(leaf));
  if (index < 0) out.problems.push({ kind: 'unknown-version', object, evidence: `${where}: leaf ${leaf.fingerprint256.slice(0, 23)} is no version of certificate ${object} the run wrote` });
  else out.versions.set(object, index);
  if (keyPem === undefined) {
    out.problems.push({ kind: 'incomplete-render', evidence: `${where}: no private key` });
    return;
  }
  let matches: boolean;
  try {
    matches = keyMatchesCertificate(keyPem, leaf);
  } catch {
    out.problems.push({ kind: 'incomplete-render', evidence: `${where}: a private key that does not parse` });
    return;
  }
  if (!matches) out.problems.push({ kind: 'key-mismatch', evidence: `${where}: the private key does not match the leaf ${leaf.fingerprint256.slice(0, 23)}` });
}

/** Judges one observed state of a target against what Key Vault held. */
export function checkRender(target: Target, data: Readonly<Record<string, Buffer>>, history: VaultHistory): RenderCheck {
  const out: RenderCheck = { problems: [], versions: new Map() };
  const expected = new Set<string>();
  for (const e of target.entries) {
    if (e.kind === 'tls-pair') {
      expected.add(e.certKey);
      expected.add(e.keyKey);
    } else expected.add(e.key);
  }
  const present = Object.keys(data);
  const missing = [...expected].filter((k) => data[k] === undefined);
  const extra = present.filter((k) => !expected.has(k) && !(target.optionalKeys ?? []).includes(k));
  if (missing.length > 0) out.problems.push({ kind: 'incomplete-render', evidence: `${target.id}: missing ${missing.join(', ')}` });
  if (extra.length > 0) out.problems.push({ kind: 'incomplete-render', evidence: `${target.id}: unexpected ${extra.join(', ')}` });
  for (const e of target.entries) {
    switch (e.kind) {
      case 'value': {
        const value = data[e.key];
        if (value === undefined) break;
        const index = history.indexOf(e.object, value.toString('utf8'));
        if (index < 0) out.problems.push({ kind: 'unknown-version', object: e.object, evidence: `${target.id} ${e.key}: ${digest(value)} is no version of secret ${e.object} the run wrote` });
        else out.versions.set(e.object, index);
        break;
      }
      case 'tls-pair': {
        const cert = data[e.certKey];
        if (cert === undefined) break;
        checkCertificate(e.object, `${target.id} ${e.certKey}`, cert.toString('utf8'), data[e.keyKey]?.toString('utf8'), history, out);
        break;
      }
      case 'pem-bundle': {
        const bundle = data[e.key];
        if (bundle === undefined) break;
        const text = bundle.toString('utf8');
        checkCertificate(e.object, `${target.id} ${e.key}`, text, KEY_PEM.exec(text)?.[0], history, out);
        break;
      }
    }
  }
  return out;
}

export interface Violation {
  kind: ViolationKind;
  target: string;
  /** First time seen (epoch ms). */
  firstAtMs: number;
  /** How many observations showed it. */
  count: number;
  /** The first observation's evidence. */
  evidence: string;
}

interface Observation {
  target: Target;
  data: Readonly<Record<string, Buffer>>;
  atMs: number;
}

/**
 * Collects observations of every target: judges each one, remembers the newest versions seen (for the
 * never-go-back rule and for convergence) and the violations, one entry per (kind, target). A state
 * holding a version the history does not know yet while a version of that object is announced waits,
 * with every later state of the same target (so their order is kept), until the history settles it;
 * `flush` judges whatever still waits as it is.
 */
export class InvariantLedger {
  readonly #history: VaultHistory;
  readonly #violations = new Map<string, Violation>();
  readonly #highest = new Map<string, Map<string, number>>();
  readonly #latest = new Map<string, { versions: Map<string, number>; complete: boolean; atMs: number }>();
  readonly #waiting = new Map<string, Observation[]>();
  #observations = 0;

  constructor(history: VaultHistory) {
    this.#history = history;
    history.onSettle(() => this.#replay(false));
  }

  get observations(): number {
    return this.#observations;
  }

  /** Judges one observed state of a target (or keeps it until an announced version is known). */
  observe(target: Target, data: Readonly<Record<string, Buffer>>, atMs: number): void {
    this.#observations += 1;
    const queue = this.#waiting.get(target.id);
    if (queue !== undefined) queue.push({ target, data, atMs });
    else if (!this.#judge({ target, data, atMs }, false)) this.#waiting.set(target.id, [{ target, data, atMs }]);
  }

  /** Judges every state still waiting for an announced version, as the history stands now. */
  flush(): void {
    this.#replay(true);
  }

  /** Judges waiting states in order, per target, until one must still wait. */
  #replay(final: boolean): void {
    for (const [id, queue] of this.#waiting) {
      while (queue.length > 0 && this.#judge(queue[0] as Observation, final)) queue.shift();
      if (queue.length === 0) this.#waiting.delete(id);
    }
  }

  /** False (nothing recorded) when the state holds an unknown version of an object still awaited. */
  #judge({ target, data, atMs }: Observation, final: boolean): boolean {
    const check = checkRender(target, data, this.#history);
    if (!final && check.problems.some((p) => p.kind === 'unknown-version' && p.object !== undefined && this.#history.awaiting(p.object))) return false;
    for (const p of check.problems) this.report(p.kind, target.id, p.evidence, atMs);
    const highest = this.#highest.get(target.id) ?? new Map<string, number>();
    for (const [object, index] of check.versions) {
      const before = highest.get(object);
      if (before !== undefined && index < before) {
        this.report('older-version', target.id, `${target.id}: ${object} went back from version #${before} to #${index} of the run's writes`, atMs);
      }
      highest.set(object, Math.max(before ?? index, index));
    }
    this.#highest.set(target.id, highest);
    this.#latest.set(target.id, { versions: check.versions, complete: check.problems.length === 0, atMs });
    return true;
  }

  /** The newest observation of a target: object → version index, and whether it passed every check. */
  latest(targetId: string): { versions: ReadonlyMap<string, number>; complete: boolean; atMs: number } | undefined {
    return this.#latest.get(targetId);
  }

  report(kind: ViolationKind, target: string, evidence: string, atMs: number): void {
    const key = `${kind} ${target}`;
    const v = this.#violations.get(key);
    if (v === undefined) this.#violations.set(key, { kind, target, firstAtMs: atMs, count: 1, evidence });
    else v.count += 1;
  }

  violations(): Violation[] {
    return [...this.#violations.values()].sort((a, b) => a.firstAtMs - b.firstAtMs);
  }
}

export interface MemorySample {
  atMs: number;
  rssBytes: number;
}

/**
 * Memory must not grow: the median RSS of the last third of a process's samples may exceed the
 * median of its first third by at most `ratio` plus `slackBytes`. Medians, not single samples, so one
 * sample taken just before a scavenge does not decide; the slack is one young generation (V8 grows
 * semi-spaces up to 16 MiB on 64-bit, and RSS shows them filled or empty depending on when the
 * sample falls); the ratio absorbs old-generation resizing after major GCs. A leak proportional to
 * work done grows without bound and crosses both within a soak. Samples spanning less than two minutes
 * are not judged: the warm-up after start or takeover (caches filling) would dominate them.
 */
export const MEMORY_RULE = { ratio: 1.25, slackBytes: 16 * 2 ** 20, minSamples: 9, minSpanMs: 120_000 } as const;

export interface MemoryVerdict {
  samples: number;
  firstThirdMedianBytes: number;
  lastThirdMedianBytes: number;
  limitBytes: number;
  grew: boolean;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The verdict for one process's samples; undefined with fewer than `minSamples` or a span under `minSpanMs` (not enough to judge). */
export function memoryGrowth(samples: readonly MemorySample[], rule: { ratio: number; slackBytes: number; minSamples: number; minSpanMs: number } = MEMORY_RULE): MemoryVerdict | undefined {
  if (samples.length < rule.minSamples) return undefined;
  const sorted = [...samples].sort((a, b) => a.atMs - b.atMs);
  if ((sorted.at(-1)?.atMs ?? 0) - (sorted[0]?.atMs ?? 0) < rule.minSpanMs) return undefined;
  const third = Math.floor(sorted.length / 3);
  const first = median(sorted.slice(0, third).map((s) => s.rssBytes));
  const last = median(sorted.slice(sorted.length - third).map((s) => s.rssBytes));
  const limit = first * rule.ratio + rule.slackBytes;
  return { samples: sorted.length, firstThirdMedianBytes: first, lastThirdMedianBytes: last, limitBytes: limit, grew: last > limit };
}

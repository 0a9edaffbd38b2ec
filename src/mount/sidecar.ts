/**
 * The `kvsync mount` loop: fetch → render files → write atomically → wait → again.
 *
 * - Ready after the first COMPLETE write: every required object fetched and rendered, and the files
 *   switched in. Until then nothing is written (an app never starts on a partial set).
 * - A sidecar restarted in a running pod (the volume outlives the container) is ready at once when the
 *   files its previous instance wrote hold every required object: they are the last good files, kept
 *   until a complete set replaces them. So a restart while Key Vault is down, or while one of the objects
 *   is deleted or disabled there, neither writes a set missing it nor takes the pod out of its Service.
 * - Rotation every `refreshIntervalMs` plus up to 10 % jitter (so pods started together do not fetch
 *   together); `refreshIntervalMs` 0 fetches once and then only waits for the stop signal (a native
 *   sidecar must keep running).
 * - A write happens only when a file's bytes or mode changed (the atomic writer compares with `..data`).
 * - A failed round (Key Vault unreachable, denied, throttled, a bad object) leaves the last good files
 *   untouched and is retried with exponential backoff, capped by the refresh interval. Only reasons and
 *   object names are logged, never a value.
 * - refreshNow() (SIGHUP) starts a round at once.
 */
import { rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { isKvsyncError } from '../util/errors.ts';
import type { FetchResult } from '../keyvault/fetch.ts';
import { livePayloadNames, writeAtomically } from './atomic-writer.ts';
import type { WriteOptions } from './atomic-writer.ts';
import { payloadFor } from './files.ts';

/** The part of a pino logger the loop uses. */
export interface MountLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MountSidecarOptions {
  sync: ResolvedKeyVaultSync;
  /** Directory to write into (the shared emptyDir). */
  dir: string;
  /** Fetches the sync's objects (fetchObjects bound to the pod's credential and environment). */
  fetch: (sync: ResolvedKeyVaultSync) => Promise<FetchResult>;
  log: MountLogger;
  /** Owner (runAsUser) and group (fsGroup) of the files, applied when running as root. */
  owner?: WriteOptions;
  /** Written (atomically) once the first complete write is done. */
  readyFile?: string;
  /** First retry delay after a failed round; default 1 s, doubled per failure. */
  retryMinMs?: number;
  /** Longest retry delay; default 60 s (and never more than the refresh interval). */
  retryMaxMs?: number;
  /** [0, 1) source for the jitter; default Math.random. */
  random?: () => number;
}

export type RoundOutcome = { ok: true; changed: boolean; files: number } | { ok: false; reasons: string[] };

export class MountSidecar {
  readonly #opts: MountSidecarOptions;
  #ready = false;
  #failures = 0;
  /** Aborted by refreshNow() to cut the current wait short. */
  #wake: AbortController | undefined;
  /** refreshNow() during a round: run another one right after it. */
  #again = false;

  constructor(opts: MountSidecarOptions) {
    this.#opts = opts;
  }

  /** True once the first complete write is done. */
  get ready(): boolean {
    return this.#ready;
  }

  /** One round: fetch, render, write. Never throws. */
  async syncOnce(): Promise<RoundOutcome> {
    const { sync, log } = this.#opts;
    let outcome: RoundOutcome;
    try {
      const result = await this.#opts.fetch(sync);
      for (const f of result.failures.filter((e) => e.optional)) log.warn({ reason: f.reason, object: f.object }, `optional object skipped: ${f.message}`);
      const required = result.failures.filter((e) => !e.optional);
      if (required.length > 0) {
        outcome = { ok: false, reasons: required.map((f) => `${f.reason}: ${f.message}`) };
      } else {
        const payload = payloadFor(sync, result.fetched);
        const written = await writeAtomically(this.#opts.dir, payload, this.#opts.owner ?? {});
        const versions = Object.fromEntries(result.fetched.filter((f) => f.historyIndex === 0).map((f) => [f.object.outputName, f.version]));
        log.info({ changed: written.changed, dataDir: written.dataDir, versions }, written.changed ? 'files written' : 'files unchanged');
        outcome = { ok: true, changed: written.changed, files: Object.keys(payload).length };
      }
    } catch (err) {
      const reason = isKvsyncError(err) ? err.reason : 'Error';
      outcome = { ok: false, reasons: [`${reason}: ${err instanceof Error ? err.message : String(err)}`] };
    }
    if (outcome.ok) {
      this.#failures = 0;
      if (!this.#ready) await this.#markReady({ dir: this.#opts.dir }, 'ready: first complete write done');
    } else {
      this.#failures++;
      log.warn({ reasons: outcome.reasons, ready: this.#ready }, this.#ready ? 'refresh failed; keeping the last good files' : 'first fetch failed; not ready yet');
    }
    return outcome;
  }

  async #markReady(fields: object, message: string): Promise<void> {
    if (this.#opts.readyFile !== undefined) {
      const tmp = `${this.#opts.readyFile}.tmp`;
      await writeFile(tmp, `ready ${new Date().toISOString()}\n`);
      await rename(tmp, this.#opts.readyFile);
    }
    this.#ready = true;
    this.#opts.log.info(fields, message);
  }

  /**
   * Adopts the files a previous instance left in the directory as the last good files (ready at once)
   * when they hold every required object; otherwise nothing changes. Never throws.
   */
  async adoptPreviousFiles(): Promise<boolean> {
    if (this.#ready) return true;
    const live = await livePayloadNames(this.#opts.dir);
    if (live === undefined) return false;
    const missing = this.#opts.sync.objects.filter((o) => !o.optional && !live.names.has(o.outputName)).map((o) => o.outputName);
    if (missing.length > 0) {
      this.#opts.log.info({ dataDir: live.dataDir, missing }, 'files of a previous run lack objects of this spec; not ready until a complete write');
      return false;
    }
    try {
      await this.#markReady({ dataDir: live.dataDir }, 'ready: keeping the files of a previous run until a complete write replaces them');
    } catch (err) {
      this.#opts.log.warn({ reason: (err as NodeJS.ErrnoException).code ?? 'Error' }, 'could not write the ready file; not ready until a complete write');
      return false;
    }
    return true;
  }

  /** Milliseconds until the next round, undefined for "never" (fetch-once after success). */
  nextDelayMs(lastOk: boolean): number | undefined {
    const interval = this.#opts.sync.refreshIntervalMs;
    const random = this.#opts.random ?? Math.random;
    if (lastOk) return interval === 0 ? undefined : Math.round(interval * (1 + 0.1 * random()));
    const cap = Math.min(this.#opts.retryMaxMs ?? 60_000, interval === 0 ? Infinity : interval);
    const base = (this.#opts.retryMinMs ?? 1000) * 2 ** Math.max(0, this.#failures - 1);
    return Math.round(Math.min(base, cap) * (1 + 0.1 * random()));
  }

  /** Starts a round now (SIGHUP): ends the current wait, or queues one round after the running one. */
  refreshNow(): void {
    if (this.#wake !== undefined) this.#wake.abort();
    else this.#again = true;
  }

  /** Runs rounds until `signal` aborts; resolves then (the current round is finished first). */
  async run(signal: AbortSignal): Promise<void> {
    await this.adoptPreviousFiles();
    while (!signal.aborted) {
      const outcome = await this.syncOnce();
      if (signal.aborted) return;
      if (this.#again) {
        this.#again = false;
        continue;
      }
      const delay = this.nextDelayMs(outcome.ok);
      const wake = new AbortController();
      this.#wake = wake;
      const either = AbortSignal.any([signal, wake.signal]);
      try {
        await (delay === undefined ? waitUntilAborted(either) : sleep(delay, undefined, { signal: either }));
      } catch {
        if (signal.aborted) return; // stopped; otherwise woken by refreshNow()
      } finally {
        this.#wake = undefined;
      }
    }
  }
}

/**
 * Rejects when `signal` aborts. A ref'd timer keeps the process alive meanwhile: a pending promise alone
 * does not, and a fetch-once sidecar would otherwise exit after its first write. The timer's closure
 * also holds `signal` strongly (a signal from AbortSignal.any is otherwise only weakly held).
 */
function waitUntilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((_, reject) => {
    const keepAlive = setInterval(() => signal.aborted, 1 << 30);
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(keepAlive);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}

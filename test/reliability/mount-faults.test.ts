/**
 * The fault matrix's rows for the mount sidecar: `kvsync mount` as a process (pod identity through the
 * emulator's IMDS), one vault per row so the rows run side by side. A reader in the test process
 * reads every file through `..data` the whole time; each row checks that it only ever saw whole files
 * of one generation, what the sidecar showed (/readyz, its log, no value in it), and how long it took to
 * converge once the fault ended (printed, bounded generously):
 * - its volume full (a size-limited tmpfs mounted here, as a memory-backed emptyDir with sizeLimit);
 * - Key Vault failing at its start, and in mid-life;
 * - SIGKILL while it writes a new generation (killed as the new timestamped directory appears), then
 *   started again on the same volume;
 * - one object of its set deleted in Key Vault, in mid-life and across a SIGKILL and restart.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { clientsFor } from '../integration/emulator/kv-support.ts';
import { startMountProcess, type MountProcess } from '../support/mount-process.ts';
import { clearFaults, injectFault } from './azure-support.ts';

const VAULTS = ['m-volume-full', 'm-fail-start', 'm-fail-midlife', 'm-sigkill', 'm-deleted'];
/** Files per generation: aliases of one secret, so every file of one generation holds the same value. */
const FILES = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'];
/** A value of about 20 KiB (Key Vault allows 25 KiB): several pages per file. */
const valueOf = (gen: number): string => `gen=${gen};`.padEnd(20_000, 'x');
const genOf = (text: string): number | undefined => (/^gen=(\d+);x+$/.test(text) && text.length === 20_000 ? Number(/^gen=(\d+)/.exec(text)?.[1]) : undefined);
const CONVERGENCE_BOUND_MS = 90_000;

let emu: RunningEmulator;
let work = '';
let clientId = '';

type Sidecar = MountProcess;

function startMount(vault: string, dir: string, extra: string[] = [], moreObjects: { name: string; type: 'secret' }[] = []): Sidecar {
  const spec = {
    vault: { name: vault, tenantID: emu.endpoints.tenantID },
    identity: { podIdentity: { identityRef: 'pod' } },
    objects: [...FILES.map((alias) => ({ name: 'value', type: 'secret', alias })), ...moreObjects],
    refreshInterval: '10s',
  };
  return startMountProcess(['--spec-json', JSON.stringify(spec), '--dir', dir, '--azure-endpoints', join(work, 'state', 'endpoints.json'), '--ready-port', '0', ...extra], { AZURE_CLIENT_ID: clientId });
}

async function readyz(s: Sidecar): Promise<number> {
  const port = await pollUntil(() => s.lines.map((l) => /"port":(\d+)/.exec(l)?.[1]).find((p) => p !== undefined), { timeoutMs: 30_000, description: 'the readiness port' });
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
}

/**
 * Reads every file of the current generation through one resolution of `..data`, as an app that needs
 * a consistent set does, until stopped. A set whose files differ, or a file that is not a whole value,
 * is a failure; ENOENT (the directory removed after a switch) is retried.
 */
function startReader(dir: string): { generations: Set<number>; failures: string[]; snapshots(): number; stop(): Promise<void> } {
  const generations = new Set<number>();
  const failures: string[] = [];
  let snapshots = 0;
  let running = true;
  const loop = (async (): Promise<void> => {
    while (running) {
      try {
        const snap = realpathSync(join(dir, '..data'));
        const gens = FILES.map((f) => genOf(readFileSync(join(snap, f), 'utf8')));
        if (gens.some((g) => g === undefined)) failures.push(`a half-written file in ${snap}`);
        else if (new Set(gens).size !== 1) failures.push(`a mixed set in ${snap}: ${gens.join(',')}`);
        else generations.add(gens[0] ?? 0);
        snapshots++;
      } catch (err) {
        if (!['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    generations,
    failures,
    snapshots: () => snapshots,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * Once the reader has seen generation `last` itself (it samples on its own schedule: the test's own read
 * may come first), stops it: it must have seen whole sets of generations 1 to `last` only.
 */
async function expectWholeSets(reader: ReturnType<typeof startReader>, last: number): Promise<void> {
  await pollUntil(() => (reader.generations.has(last) ? true : undefined), { timeoutMs: 30_000, description: `the reader to see generation ${last}` });
  await reader.stop();
  expect(reader.failures.slice(0, 5)).toEqual([]);
  expect([...reader.generations].sort()).toEqual(Array.from({ length: last }, (_, i) => i + 1));
}

async function rotate(vault: string, gen: number): Promise<void> {
  await clientsFor(emu, undefined, vault).secrets.setSecret('value', valueOf(gen));
}

/** The sidecar a wait depends on has ended: the wait stops at once (nothing would restart it). */
class SidecarEndedError extends Error {}
const sidecarEnded = (err: unknown): boolean => err instanceof SidecarEndedError;

/** How the sidecar process ended, undefined while it runs. */
function endOf(s: Sidecar): string | undefined {
  return s.child.exitCode === null && s.child.signalCode === null ? undefined : `code ${s.child.exitCode}, signal ${s.child.signalCode}`;
}

function throwIfEnded(s: Sidecar | undefined, before: string): void {
  const end = s === undefined ? undefined : endOf(s);
  if (end !== undefined) throw new SidecarEndedError(`the sidecar ended (${end}) before ${before}`);
}

/** Waits for generation `gen` in the files; with `writer`, fails at once when that sidecar ends. */
async function waitGeneration(dir: string, gen: number, timeoutMs = CONVERGENCE_BOUND_MS, writer?: Sidecar): Promise<number> {
  const started = Date.now();
  await pollUntil(
    () => {
      try {
        if (genOf(readFileSync(join(dir, FILES[0] ?? ''), 'utf8')) === gen) return true;
      } catch {
        // not there yet
      }
      throwIfEnded(writer, `generation ${gen} was written`);
      return undefined;
    },
    { timeoutMs, intervalMs: 50, description: `generation ${gen} in ${dir}`, isFatal: sidecarEnded },
  );
  return Date.now() - started;
}

/**
 * Resolves once the sidecar completed a round (files written or unchanged). Its signal handlers are
 * installed by then (command.ts installs them before its loop), and a rotation made after it is left for
 * a round the test asks for.
 */
async function untilRoundDone(s: Sidecar): Promise<void> {
  await pollUntil(
    () => {
      if (s.lines.some((l) => l.includes('"msg":"files written"') || l.includes('"msg":"files unchanged"'))) return true;
      throwIfEnded(s, 'it completed a round');
      return undefined;
    },
    { timeoutMs: 30_000, description: 'the sidecar to complete a round', isFatal: sidecarEnded },
  );
}

/**
 * Prints what a failed row needs to explain itself: the current sidecar's state and last log lines (they
 * carry reasons, versions and names, never a value; value-shaped text is masked all the same) and how
 * the sidecars it replaced ended.
 */
function explain(row: string, s: Sidecar, history: string[]): void {
  const last = s.lines.slice(-40).map((l) => l.replace(/gen=\d+;x+/g, '<value>').slice(0, 600));
  console.log(
    [
      `[fault-matrix] ${row} failed; ${history.length === 0 ? 'no sidecar replaced yet' : history.join('; ')}`,
      `the current sidecar (pid ${s.child.pid}) ${endOf(s) === undefined ? 'is running' : `ended (${endOf(s)})`}; its last ${last.length} of ${s.lines.length} log lines:`,
      ...last,
    ].join('\n'),
  );
}

const report = (row: string, ms: number): void => console.log(`[fault-matrix] ${row}: converged ${(ms / 1000).toFixed(1)} s after the fault ended`);

/** Log lines of a failed round: a reason, never a value. */
function expectFailureLogged(s: Sidecar, message: RegExp, reasons: RegExp): void {
  const line = s.lines.find((l) => message.test(l)) ?? '';
  expect(line, `a log line matching ${String(message)}`).not.toBe('');
  expect(line).toMatch(reasons);
  expect(s.lines.join('\n')).not.toMatch(/gen=\d+;x{100}/);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kvsync-mount-faults-'));
  emu = await startEmulator({ stateDir: join(work, 'state'), log: () => undefined, configDocument: { vaults: VAULTS.map((name) => ({ name })), managedIdentities: [{ name: 'pod' }] } });
  clientId = emu.config.managedIdentities.find((m) => m.name === 'pod')?.clientId ?? '';
});

afterAll(async () => {
  await emu?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the mount sidecar under faults (each row on its own vault, side by side)', () => {
  it.concurrent('m-volume-full: a full volume fails the round, the last good files stay whole, the next round after space frees writes', async () => {
    expect(process.getuid?.(), 'mounting a size-limited tmpfs needs root').toBe(0);
    const vault = 'm-volume-full';
    const dir = join(work, vault);
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0755', 'tmpfs', dir]);
    let s: Sidecar | undefined;
    let reader: ReturnType<typeof startReader> | undefined;
    try {
      await rotate(vault, 1);
      s = startMount(vault, dir);
      await waitGeneration(dir, 1, 60_000);
      reader = startReader(dir);
      // Fill what is left with a file no generation needs.
      const filler = join(dir, 'filler');
      const page = Buffer.alloc(4096, 0x66);
      let filled = 0;
      try {
        for (;;) {
          writeFileSync(filler, page, { flag: 'a' });
          filled += page.length;
        }
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      await rotate(vault, 2);
      s.child.kill('SIGHUP');
      await pollUntil(() => (s?.lines.some((l) => l.includes('keeping the last good files')) === true ? true : undefined), { timeoutMs: 30_000, description: 'a failed round' });
      expectFailureLogged(s, /keeping the last good files/, /WriteFailed|ENOSPC|no space/i);
      expect(await readyz(s)).toBe(200);
      expect(genOf(readFileSync(join(dir, 'f1'), 'utf8'))).toBe(1);
      // A failed write leaves no generation behind it: only the one ..data names.
      expect(readdirSync(dir).filter((n) => n.startsWith('..2'))).toEqual([realpathSync(join(dir, '..data')).split('/').at(-1)]);

      rmSync(filler);
      report(vault, await waitGeneration(dir, 2));
      await expectWholeSets(reader, 2);
      console.log(`[fault-matrix] ${vault}: filled ${filled} bytes; reader: ${reader.snapshots()} snapshots, generations ${[...reader.generations].join(',')}`);
    } finally {
      await reader?.stop();
      s?.child.kill('SIGKILL');
      await s?.exit;
      execFileSync('umount', [dir]);
    }
  });

  it.concurrent('m-fail-start: Key Vault failing at start: not ready and no files, the process stays up; files once it answers', async () => {
    const vault = 'm-fail-start';
    const dir = join(work, vault);
    await rotate(vault, 1);
    await injectFault(emu, { vault, status: 503, retryAfterSeconds: null, durationSeconds: 600 });
    const s = startMount(vault, dir);
    try {
      await pollUntil(() => (s.lines.some((l) => l.includes('first fetch failed')) ? true : undefined), { timeoutMs: 30_000, description: 'a failed first round' });
      expectFailureLogged(s, /first fetch failed/, /VaultUnreachable|VaultUnavailable/);
      expect(await readyz(s)).toBe(503);
      expect(existsSync(join(dir, '..data'))).toBe(false);
      expect(s.child.exitCode).toBeNull();
      await clearFaults(emu, { vault });
      report(vault, await waitGeneration(dir, 1));
      expect(await readyz(s)).toBe(200);
    } finally {
      s.child.kill('SIGKILL');
      await s.exit;
    }
  });

  it.concurrent('m-fail-midlife: Key Vault failing in mid-life: the last good files stay, still ready; the new version once it answers', async () => {
    const vault = 'm-fail-midlife';
    const dir = join(work, vault);
    await rotate(vault, 1);
    const s = startMount(vault, dir);
    let reader: ReturnType<typeof startReader> | undefined;
    try {
      await waitGeneration(dir, 1, 60_000);
      reader = startReader(dir);
      await injectFault(emu, { vault, status: 503, retryAfterSeconds: null, durationSeconds: 600 });
      await rotate(vault, 2);
      s.child.kill('SIGHUP');
      await pollUntil(() => (s.lines.some((l) => l.includes('keeping the last good files')) ? true : undefined), { timeoutMs: 30_000, description: 'a failed round' });
      expectFailureLogged(s, /keeping the last good files/, /VaultUnreachable|VaultUnavailable/);
      expect(await readyz(s)).toBe(200);
      expect(genOf(readFileSync(join(dir, 'f1'), 'utf8'))).toBe(1);
      await clearFaults(emu, { vault });
      report(vault, await waitGeneration(dir, 2));
      await expectWholeSets(reader, 2);
    } finally {
      await reader?.stop();
      s.child.kill('SIGKILL');
      await s.exit;
    }
  });

  it.concurrent('m-sigkill: SIGKILL as a new generation is being written: readers never see a mix; a new sidecar on the same volume goes on', async () => {
    const vault = 'm-sigkill';
    const dir = join(work, vault);
    await rotate(vault, 1);
    let s = startMount(vault, dir);
    /** How each replaced sidecar ended, for a failure's explanation. */
    const history: string[] = [];
    const reader = startReader(dir);
    const KILLS = 6;
    let midWrite = 0;
    try {
      await waitGeneration(dir, 1, 60_000, s);
      for (let gen = 2; gen <= KILLS + 1; gen++) {
        // The sidecar completes a round before the rotation: its SIGHUP handler is installed by then (a
        // restarted one would otherwise be signalled during the runtime's start, which a SIGHUP ends, when
        // the killed one had completed its switch), and the new generation is left for the SIGHUP's round.
        await untilRoundDone(s);
        await rotate(vault, gen);
        const writer = s;
        const before = readlinkSync(join(dir, '..data'));
        // Killed the moment the new generation's directory appears (not when an old one is removed):
        // mid-write, before the switch. The watch is this writer's alone, closed whatever happens.
        let killed = false;
        const w = watch(dir, (_event, name) => {
          if (killed || typeof name !== 'string' || !name.startsWith('..2') || name === before || !existsSync(join(dir, name))) return;
          killed = true;
          writer.child.kill('SIGKILL');
        });
        try {
          writer.child.kill('SIGHUP');
          await pollUntil(() => (killed || endOf(writer) !== undefined ? true : undefined), { timeoutMs: 20_000, intervalMs: 20, description: `generation ${gen}'s directory to appear` }).catch(() => undefined);
        } finally {
          w.close();
        }
        writer.child.kill('SIGKILL');
        await writer.exit;
        // Mid-write: a new generation's directory was left and ..data still names the old one.
        const landed = readlinkSync(join(dir, '..data')) === before && readdirSync(dir).filter((n) => n.startsWith('..2')).length > 1;
        if (landed) midWrite++;
        history.push(`generation ${gen}: ${killed ? 'killed as its directory appeared' : 'no directory appeared'}, ended by ${writer.child.signalCode ?? `exit ${writer.child.exitCode}`}, ${landed ? 'mid-write' : 'after the switch'}`);
        // A new sidecar on the volume as it was left: it writes the generation whole and goes on.
        s = startMount(vault, dir);
        await waitGeneration(dir, gen, 60_000, s);
      }
      const ended = Date.now();
      await pollUntil(() => (readdirSync(dir).filter((n) => n.startsWith('..2')).length === 1 ? true : undefined), { timeoutMs: 30_000, description: 'the leftovers of killed writes removed' });
      report(vault, Date.now() - ended);
      await reader.stop();
      console.log(`[fault-matrix] ${vault}: ${KILLS} kills, ${midWrite} mid-write (a generation directory left beside ..data); reader: ${reader.snapshots()} snapshots, generations ${[...reader.generations].sort((a, b) => a - b).join(',')}`);
      expect(midWrite, 'kills that landed while a generation was being written').toBeGreaterThan(0);
      expect(reader.failures.slice(0, 5)).toEqual([]);
      expect(readdirSync(dir).filter((n) => !n.startsWith('..')).sort()).toEqual(FILES);
    } catch (err) {
      explain(vault, s, history);
      throw err;
    } finally {
      await reader.stop();
      s.child.kill('SIGKILL');
      await s.exit;
    }
  });
  it.concurrent('m-deleted: one object of the set deleted in Key Vault: the whole last good set stays, also across a SIGKILL and restart, which is ready at once', async () => {
    const vault = 'm-deleted';
    const dir = join(work, vault);
    const secrets = clientsFor(emu, undefined, vault).secrets;
    await rotate(vault, 1);
    await secrets.setSecret('other', 'other-1');
    const other = [{ name: 'other', type: 'secret' as const }];
    let s = startMount(vault, dir, [], other);
    let reader: ReturnType<typeof startReader> | undefined;
    try {
      await waitGeneration(dir, 1, 60_000);
      reader = startReader(dir);
      await (await secrets.beginDeleteSecret('other', { intervalInMs: 100 })).pollUntilDone();
      // A rotation of the object still there: no set holding it without `other` may be written.
      await rotate(vault, 2);
      s.child.kill('SIGHUP');
      await pollUntil(() => (s.lines.some((l) => l.includes('keeping the last good files')) ? true : undefined), { timeoutMs: 30_000, description: 'a failed round' });
      expectFailureLogged(s, /keeping the last good files/, /ObjectNotFound/);
      expect(await readyz(s)).toBe(200);

      // Restarted while `other` is still deleted: the previous instance's files are the last good ones.
      s.child.kill('SIGKILL');
      await s.exit;
      s = startMount(vault, dir, [], other);
      const restarted = s;
      await pollUntil(() => (restarted.lines.some((l) => l.includes('keeping the last good files')) ? true : undefined), { timeoutMs: 30_000, description: 'a failed round after the restart' });
      expect(restarted.lines.some((l) => l.includes('ready: keeping the files of a previous run'))).toBe(true);
      expect(restarted.lines.some((l) => l.includes('first fetch failed'))).toBe(false);
      expect(await readyz(restarted)).toBe(200);
      expect(genOf(readFileSync(join(dir, 'f1'), 'utf8'))).toBe(1);
      expect(readFileSync(join(dir, 'other'), 'utf8')).toBe('other-1');

      await (await secrets.beginRecoverDeletedSecret('other', { intervalInMs: 100 })).pollUntilDone();
      const recovered = Date.now();
      restarted.child.kill('SIGHUP');
      await waitGeneration(dir, 2);
      report(vault, Date.now() - recovered);
      expect(readFileSync(join(dir, 'other'), 'utf8')).toBe('other-1');
      await expectWholeSets(reader, 2);
    } finally {
      await reader?.stop();
      s.child.kill('SIGKILL');
      await s.exit;
    }
  });
});

/**
 * The vitest part of `npm test` (after typecheck and lint), arranged to fit the 30-minute budget on 2 cores:
 *   1. the `node` project alone: a real node owns bridges, containerd and fixed ports, one cluster per machine;
 *   2. `unit` and `integration` (one shared control plane, one file at a time) beside `reliability` (each file
 *      starts its own control plane and emulator, and mostly waits: on leases, token lifetimes, outages).
 * One vitest process cannot do 2: vitest runs the projects of one group with one worker limit, which would also
 * let two integration files share the control plane at once, or two reliability files run together.
 *
 * Output stays readable: the unit and integration run streams; the reliability run goes to a log (its path is
 * printed, to follow it) and is printed whole when it ends. vitest's totals and one closing `tests:` line add up
 * every run, and the exit status is 1 when any run failed. With arguments (`npm test -- <files or options>`),
 * one plain `vitest run` with them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { combineSummaries, formatDuration, parseSummary, projectsLine, testsLine, totalsLines, type RunSummary } from '../test/run-summary.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitestBin = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const children = new Set<ChildProcess>();

interface Finished {
  label: string;
  ok: boolean;
  summary: RunSummary | undefined;
  wallMs: number;
}

/** Copies complete lines only, so a block written by this process never lands inside one of the child's lines. */
function forwardLines(from: Readable, to: Writable): Promise<void> {
  let rest = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const text = rest + chunk;
    const cut = text.lastIndexOf('\n') + 1;
    rest = text.slice(cut);
    if (cut > 0) to.write(text.slice(0, cut));
  });
  return new Promise((resolve) => {
    from.on('end', () => {
      if (rest !== '') to.write(`${rest}\n`);
      resolve();
    });
  });
}

/** One `vitest run`; its output streams to ours (`log` undefined) or goes to the log file. */
async function runVitest(label: string, args: readonly string[], work: string, log?: string): Promise<Finished> {
  const summaryFile = join(work, `${label.replace(/\W+/g, '-')}.json`);
  const env = { ...process.env, KVSYNC_TEST_SUMMARY_FILE: summaryFile, ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : {}) };
  const started = Date.now();
  const child = spawn(process.execPath, [vitestBin, 'run', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let copied: Promise<unknown>;
  if (log === undefined) {
    copied = Promise.all([forwardLines(child.stdout, process.stdout), forwardLines(child.stderr, process.stderr)]);
  } else {
    const file = createWriteStream(log);
    child.stdout.pipe(file, { end: false });
    child.stderr.pipe(file, { end: false });
    copied = Promise.all([new Promise((r) => child.stdout.on('end', r)), new Promise((r) => child.stderr.on('end', r))]).then(
      () => new Promise((r) => file.end(r)),
    );
  }
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  await copied;
  children.delete(child);
  let summary: RunSummary | undefined;
  try {
    summary = parseSummary(readFileSync(summaryFile, 'utf8'));
  } catch {
    summary = undefined;
  }
  return { label, ok: code === 0 && summary !== undefined, summary, wallMs: Date.now() - started };
}

async function main(): Promise<number> {
  const extra = process.argv.slice(2);
  if (extra.length > 0) {
    const child = spawn(process.execPath, [vitestBin, 'run', ...extra], { cwd: root, stdio: 'inherit' });
    children.add(child);
    return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  }

  const work = mkdtempSync(join(tmpdir(), 'kvsync-test-'));
  const started = Date.now();
  try {
    const node = await runVitest('node', ['--project', 'node'], work);

    const reliabilityLog = join(work, 'reliability.log');
    console.log(`\nnpm test: the reliability project runs beside unit and integration; its output follows when it ends (meanwhile: tail -f ${reliabilityLog})\n`);
    const [pair, reliability] = await Promise.all([
      runVitest('unit + integration', ['--project', 'unit', '--project', 'integration'], work),
      runVitest('reliability', ['--project', 'reliability'], work, reliabilityLog),
    ]);
    process.stdout.write(`\n──── reliability (${formatDuration(reliability.wallMs)}, beside unit + integration) ────\n`);
    process.stdout.write(readFileSync(reliabilityLog, 'utf8'));

    const runs = [node, pair, reliability];
    console.log('');
    for (const run of runs) {
      console.log(`npm test: ${run.label} ${run.ok ? 'passed' : 'FAILED'} in ${formatDuration(run.wallMs)}${run.summary === undefined ? ' (it left no summary: it ended before vitest reported)' : ''}`);
    }
    const total = combineSummaries(runs.flatMap((r) => (r.summary === undefined ? [] : [r.summary])));
    console.log(`npm test: vitest ${formatDuration(Date.now() - started)} in all`);
    for (const line of totalsLines(total)) console.log(line);
    console.log(projectsLine(total));
    console.log(testsLine(total));
    return runs.every((r) => r.ok) ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// Ctrl-C reaches the children through the terminal's process group; a SIGTERM to this process alone is passed on,
// so each vitest run still stops its control planes in its global teardown.
process.on('SIGTERM', () => {
  for (const child of children) child.kill('SIGTERM');
});
process.on('SIGINT', () => {});

process.exitCode = await main();

/**
 * The tallies of one vitest run as the summary reporter records them, and the lines printed from them.
 * `npm test` runs vitest more than once (scripts/test.ts) and adds the runs' tallies into one closing line.
 */

export interface ProjectTally {
  /** Test files the project ran. */
  files: number;
  /** From its first file's start to its last file's end (global setup excluded). */
  wallMs: number;
}

export interface RunSummary {
  passed: number;
  failed: number;
  skipped: number;
  /** Test files that failed (a failed test, or a file that did not load). */
  failedFiles: number;
  projects: Record<string, ProjectTally>;
}

/** The closing line CI reads: `tests: N passed, N failed, N skipped`. */
export function testsLine(summary: RunSummary): string {
  return `tests: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`;
}

/** vitest's two totals lines, for all runs at once: ` Test Files  N passed | N failed (N)`, `      Tests  …`. */
export function totalsLines(summary: RunSummary): [string, string] {
  const files = Object.values(summary.projects).reduce((n, p) => n + p.files, 0);
  const tests = summary.passed + summary.failed + summary.skipped;
  const counts = (parts: [number, string][]): string => parts.filter(([n], i) => n > 0 || i === 0).map(([n, word]) => `${n} ${word}`).join(' | ');
  return [
    ` Test Files  ${counts([[files - summary.failedFiles, 'passed'], [summary.failedFiles, 'failed']])} (${files})`,
    `      Tests  ${counts([[summary.passed, 'passed'], [summary.failed, 'failed'], [summary.skipped, 'skipped']])} (${tests})`,
  ];
}

/** e.g. `projects: unit 45 s (107 files), integration 11 min 41 s (78 files)` */
export function projectsLine(summary: RunSummary): string {
  const parts = Object.entries(summary.projects).map(([name, p]) => `${name} ${formatDuration(p.wallMs)} (${p.files} ${p.files === 1 ? 'file' : 'files'})`);
  return `projects: ${parts.length > 0 ? parts.join(', ') : 'none ran'}`;
}

/** Several runs as one: counts added; a project in more than one run adds its files and wall times. */
export function combineSummaries(runs: readonly RunSummary[]): RunSummary {
  const total: RunSummary = { passed: 0, failed: 0, skipped: 0, failedFiles: 0, projects: {} };
  for (const run of runs) {
    total.failedFiles += run.failedFiles;
    total.passed += run.passed;
    total.failed += run.failed;
    total.skipped += run.skipped;
    for (const [name, p] of Object.entries(run.projects)) {
      const before = total.projects[name] ?? { files: 0, wallMs: 0 };
      total.projects[name] = { files: before.files + p.files, wallMs: before.wallMs + p.wallMs };
    }
  }
  return total;
}

/** `45 s`, `11 min 41 s` */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** Reads a summary written by the reporter; undefined when the file is not one (a run that died first). */
export function parseSummary(text: string): RunSummary | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { passed, failed, skipped, failedFiles, projects } = value as Partial<RunSummary>;
  if (typeof passed !== 'number' || typeof failed !== 'number' || typeof skipped !== 'number' || typeof failedFiles !== 'number') return undefined;
  if (typeof projects !== 'object' || projects === null) return undefined;
  return { passed, failed, skipped, failedFiles, projects };
}

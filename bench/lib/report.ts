/** The benchmark's results: rows of the Markdown table plus raw details, written as JSON and Markdown. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One line of the results table. `met` is undefined when the figure has no target or was not measured. */
export interface ResultRow {
  scenario: string;
  figure: string;
  value: string;
  baseline: string;
  target: string;
  met: boolean | undefined;
  notes: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  /** `git rev-parse HEAD` of the run, `+dirty` when the worktree had uncommitted changes. */
  commit: string;
  command: string;
  parameters: Record<string, unknown>;
  environment: Record<string, unknown>;
  rows: ResultRow[];
  /** Raw measurements per scenario (counts, samples, timings). */
  details: Record<string, unknown>;
}

/** A row for a figure that could not be measured in this run. */
export function notMeasured(scenario: string, figure: string, target: string, why: string): ResultRow {
  return { scenario, figure, value: 'not measured', baseline: '—', target, met: undefined, notes: `not measured: ${why}` };
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(rows: readonly ResultRow[]): string {
  const met = (m: boolean | undefined): string => (m === undefined ? '—' : m ? 'yes' : '**no**');
  return [
    '| scenario | figure | measured | baseline (same run) | target | met? | notes |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${cell(r.scenario)} | ${cell(r.figure)} | ${cell(r.value)} | ${cell(r.baseline)} | ${cell(r.target)} | ${met(r.met)} | ${cell(r.notes)} |`),
  ].join('\n');
}

/** A parameter as the report prints it: nested parameters (the comparison's) as JSON, not `[object Object]`. */
function paramText(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

export function markdownReport(r: BenchResults): string {
  const env = Object.entries(r.environment).map(([k, v]) => `${k} ${String(v)}`).join(', ');
  const params = Object.entries(r.parameters).map(([k, v]) => `${k}=${paramText(v)}`).join(', ');
  return [
    '# kvsync benchmark results',
    '',
    `Run \`${r.command}\` at commit ${r.commit} from ${r.startedAt} to ${r.finishedAt} (UTC).`,
    '',
    `Parameters: ${params}.`,
    '',
    `Environment: ${env}.`,
    '',
    markdownTable(r.rows),
    '',
    ...(typeof r.details.sideBySide === 'string' ? ['## kvsync and External Secrets Operator side by side', '', 'Medians of the runs, lowest and highest in brackets.', '', r.details.sideBySide, ''] : []),
    'Raw figures (request counts by operation and status, samples, metrics) are in `latest.json`.',
    '',
  ].join('\n');
}

export async function writeResults(r: BenchResults, jsonPath: string, mdPath: string): Promise<void> {
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(r, null, 2)}\n`);
  await writeFile(mdPath, markdownReport(r));
}

/** The chaos run's tables (faults, violations, convergence, memory) as text, and the results as JSON. */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ChaosResults } from './soak.ts';

export interface ChaosReport extends ChaosResults {
  command: string;
  commit: string;
  startedAt: string;
  finishedAt: string;
  environment: Record<string, string>;
}

const s = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function formatReport(r: ChaosReport): string {
  const faults = table(
    ['fault', 'injected', 'skipped'],
    [...r.faults.map((f) => [f.kind, String(f.injected), String(f.skipped)]), ['**total**', String(r.faults.reduce((n, f) => n + f.injected, 0)), String(r.faults.reduce((n, f) => n + f.skipped, 0))]],
  );
  const violations =
    r.violations.length === 0
      ? 'Invariant violations: 0'
      : `Invariant violations: ${r.violations.length}\n\n${table(['kind', 'target', 'times seen', 'first evidence'], r.violations.map((v) => [v.kind, v.target, String(v.count), v.evidence]))}`;
  const c = r.convergence;
  const convergence = table(
    ['after the faults ended', 'time', 'target'],
    [
      ['every managed Secret holds the vault\'s current versions', s(c.secretsMs), s(c.targetMs)],
      ['every mounted file set holds them', s(c.mountsMs), s(c.targetMs)],
      ['every KeyVaultSync Ready', s(c.readyMs), s(c.targetMs)],
      ['all of it (the convergence time)', s(c.allMs), s(c.targetMs)],
      ['median Secret or file set', s(c.p50Ms), '—'],
    ],
  );
  const memory = table(
    ['controller instance', 'samples', 'RSS first third (median)', 'RSS last third (median)', 'limit'],
    r.memory.map((m) => ('note' in m ? [m.instance, String(m.samples), m.note, '', ''] : [m.instance, String(m.samples), mib(m.firstThirdMedianBytes), mib(m.lastThirdMedianBytes), mib(m.limitBytes)])),
  );
  return [
    `chaos run: seed ${r.seed}, ${s(r.parameters.durationMs)} of faults, ${r.parameters.kvs} KeyVaultSyncs, ${r.parameters.mounts} mounts, refresh ${r.parameters.refreshSeconds} s, commit ${r.commit}`,
    `rotations: ${r.rotations.secrets} secrets, ${r.rotations.certificates} certificates (${r.rotations.failed} failed under faults); checked ${r.observations.secretStates} Secret states and ${r.observations.mountGenerations} mounted file sets; the checker's watch relisted ${r.observations.watchRelists} times`,
    '',
    faults,
    '',
    violations,
    '',
    convergence,
    '',
    memory,
    '',
    r.passed ? 'PASSED: 0 violations, converged within two refresh intervals' : 'FAILED',
  ].join('\n');
}

/** Writes the JSON atomically (a temporary file renamed into place). */
export async function writeReport(r: ChaosReport, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, `${JSON.stringify(r, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

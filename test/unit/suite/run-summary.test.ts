import { describe, expect, it } from 'vitest';
import { combineSummaries, formatDuration, parseSummary, projectsLine, testsLine, totalsLines, type RunSummary } from '../../run-summary.ts';

const node: RunSummary = { passed: 14, failed: 0, skipped: 0, failedFiles: 0, projects: { node: { files: 3, wallMs: 57_400 } } };
const pair: RunSummary = {
  passed: 1300,
  failed: 1,
  skipped: 2,
  failedFiles: 1,
  projects: { unit: { files: 107, wallMs: 45_500 }, integration: { files: 78, wallMs: 701_000 } },
};
const reliability: RunSummary = { passed: 60, failed: 0, skipped: 0, failedFiles: 0, projects: { reliability: { files: 5, wallMs: 812_400 } } };

describe('run summaries', () => {
  it('adds the runs of one npm test into one closing line, each project kept', () => {
    const total = combineSummaries([node, pair, reliability]);
    expect(testsLine(total)).toBe('tests: 1374 passed, 1 failed, 2 skipped');
    expect(totalsLines(total)).toEqual([' Test Files  192 passed | 1 failed (193)', '      Tests  1374 passed | 1 failed | 2 skipped (1377)']);
    expect(totalsLines(node)).toEqual([' Test Files  3 passed (3)', '      Tests  14 passed (14)']);
    expect(projectsLine(total)).toBe(
      'projects: node 57 s (3 files), unit 46 s (107 files), integration 11 min 41 s (78 files), reliability 13 min 32 s (5 files)',
    );
  });

  it('adds the files and times of a project that ran in two runs', () => {
    const total = combineSummaries([reliability, reliability]);
    expect(total.projects.reliability).toEqual({ files: 10, wallMs: 1_624_800 });
  });

  it('reads back what the reporter wrote, and refuses what a run that died early left', () => {
    expect(parseSummary(JSON.stringify(pair))).toEqual(pair);
    expect(parseSummary('')).toBeUndefined();
    expect(parseSummary('{"passed":1}')).toBeUndefined();
    expect(parseSummary('null')).toBeUndefined();
  });

  it('formats durations in seconds, then minutes and seconds', () => {
    expect(formatDuration(400)).toBe('0 s');
    expect(formatDuration(59_400)).toBe('59 s');
    expect(formatDuration(60_000)).toBe('1 min 0 s');
    expect(projectsLine({ passed: 0, failed: 0, skipped: 0, failedFiles: 0, projects: {} })).toBe('projects: none ran');
  });
});

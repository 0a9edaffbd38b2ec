/**
 * Prints, after a vitest run, each project's wall time and one plain closing line,
 * `tests: N passed, N failed, N skipped`, in the form CI reads from any test runner (vitest's own summary is
 * not one it knows). When `npm test` runs vitest several times (scripts/test.ts), it sets
 * KVSYNC_TEST_SUMMARY_FILE: the tallies go to that file instead of the closing line, and `npm test` prints one
 * closing line for all the runs.
 */
import { writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';
import { projectsLine, testsLine, type RunSummary } from './run-summary.ts';

interface Span {
  firstStart: number;
  lastEnd: number;
  files: number;
}

export default class SummaryReporter implements Reporter {
  private readonly spans = new Map<string, Span>();

  onTestModuleStart(module: TestModule): void {
    const name = module.project.name;
    const span = this.spans.get(name);
    if (span === undefined) this.spans.set(name, { firstStart: Date.now(), lastEnd: Date.now(), files: 0 });
  }

  onTestModuleEnd(module: TestModule): void {
    const span = this.spans.get(module.project.name);
    if (span === undefined) return;
    span.lastEnd = Date.now();
    span.files++;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const summary: RunSummary = { passed: 0, failed: 0, skipped: 0, failedFiles: 0, projects: {} };
    for (const module of testModules) {
      if (module.state() === 'failed') summary.failedFiles++;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') summary.passed++;
        else if (state === 'failed') summary.failed++;
        else summary.skipped++;
      }
    }
    for (const [name, span] of this.spans) summary.projects[name] = { files: span.files, wallMs: span.lastEnd - span.firstStart };
    console.log(projectsLine(summary));
    const file = process.env.KVSYNC_TEST_SUMMARY_FILE;
    if (file !== undefined && file !== '') writeFileSync(file, JSON.stringify(summary));
    else console.log(testsLine(summary));
  }
}

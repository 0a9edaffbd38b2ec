import { defineConfig } from 'vitest/config';

// Two projects: unit tests (beside the code, no cluster, fast) and integration tests, which share one
// real control plane started once per run by the global setup (2 cores: never one per file).
export default defineConfig({
  test: {
    // Stopping the control plane (SIGTERM, then SIGKILL after a grace period) may take a few seconds.
    teardownTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/security/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

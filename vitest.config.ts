import { defineConfig } from 'vitest/config';

// Four projects: unit tests (beside the code, no cluster, fast); integration tests, which share one real control
// plane started once per run by the global setup (2 cores: never one per file); the real node; fault injection.
// `npm test` runs them through scripts/test.ts: node alone first, then reliability beside unit + integration (one
// vitest group cannot hold both: its projects share one worker limit). A plain `vitest run` runs them one group
// at a time.
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
      {
        // Real pods on one local node (containerd, kubelet, CNI), the image built by dockerd, the chart
        // installed by helm. One cluster per run (global setup); needs root and the Debian packages
        // .ci/run installs. Runs alone, first: the node owns bridges, containerd and fixed ports (in a plain
        // `vitest run` its groupOrder keeps it apart from the other projects).
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          globalSetup: ['test/node/global-setup.ts'],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
      {
        // Fault injection: each file starts its own control plane and emulator (its faults restart and
        // kill them, so they never touch the integration project's shared one). One file at a time; in
        // `npm test` beside the unit and integration projects, since its files mostly wait (leases, token
        // lifetimes, outages).
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          sequence: { groupOrder: 2 },
          fileParallelism: false,
          // Rows of one file on different vaults run side by side (describe.concurrent).
          maxConcurrency: 16,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});

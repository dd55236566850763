import { defineConfig } from 'vitest/config';

// Four projects: `unit` (pure logic, real ONNX sessions, no database), `integration`
// (a real Postgres started once by the global setup, real servers on 127.0.0.1:0), `chart`
// (helm and kubeconform on the Helm chart and the Dockerfile) and `reliability` (rolling restart and
// overload against real server processes under load), which runs last and alone: its tests measure
// capacity in the run, and must not share the cores with the parallel integration files.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/setup/global-postgres.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file starts its own servers; files share one Postgres but use their own databases.
          fileParallelism: true,
        },
      },
      {
        test: {
          name: 'chart',
          include: ['test/chart/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/integration/setup/global-postgres.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          // Groups run from the lowest order up; the other projects are in group 0.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

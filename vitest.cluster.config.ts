import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: the chart on the local single-node cluster of scripts/cluster.sh (started by the
// global setup when it is not running), one file at a time — they share the node's two cores with the control
// plane, and several of them measure a rollout under load. Not part of `npm test`; `.ci/run` runs it after.
export default defineConfig({
  test: {
    name: 'cluster',
    include: ['test/cluster/**/*.test.ts'],
    globalSetup: ['test/cluster/setup/global-cluster.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
  },
});

/**
 * `npm run bench`: measures the real server (release build) against what this machine allows, in one run:
 *
 * - the real server: Score with inline features, Score by id (features from Postgres, 100,000 seeded
 *   customers), V2 ModelInfer, and a ScoreStream batch, with ghz at concurrency 1, 50 and 200, the two
 *   Score scenarios again with h2load (a light C load generator: the figure for ceilings and targets), and
 *   V2 ModelInfer again with perf_analyzer (Triton's compiled client, what Triton users compare with);
 * - a plain grpc-js echo server with the same messages (decode + encode, no work): the transport+protobuf ceiling;
 * - a raw grpc-js server answering an empty message without decoding: the transport ceiling;
 * - an in-process ONNX Runtime loop: the compute ceiling.
 *
 * Records throughput, p50/p90/p99, server CPU (cores, and µs per call), the load generator's CPU per call and
 * peak RSS, prints the server/echo ratios and writes `bench/results/perf.{json,md}` (`perf-pinned` pinned). Modes (`npm run bench -- <mode>`):
 *   --pinned         the default run with the server on CPU 0 and the load generator on CPU 1 (taskset)
 *   --mixed          online p99 with and without a full-speed batch stream running
 *   --observability  Score with metrics+tracing off, metrics only, metrics + tracing (sampled 100 %) to Jaeger
 *   --overload       twice the measured capacity at a fixed rate (h2load on CPU 1, the server on CPU 0): goodput
 *   --registry       p99 and errors of steady load while models are promoted and rolled back
 *   --soak           SOAK_SECONDS (default 300) of mixed load; RSS and heap slope after warm-up
 * Environment: BENCH_SERVER_ENV (JSON of extra server variables), BENCH_DURATION (seconds per run, default 8s; sized in calls from the warm-up's rate), BENCH_CUSTOMERS (seeded, default 100000).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSeededDatabase, startTestPostgres } from '../test/helpers/test-postgres.js';
import { full } from './modes/full.js';
import { mixed } from './modes/mixed.js';
import { observability } from './modes/observability.js';
import { overload } from './modes/overload.js';
import { registry } from './modes/registry.js';
import { soak } from './modes/soak.js';
import { customers } from './perf/scenarios.js';

const run = promisify(execFile);
const mode = process.argv[2] ?? '--full';
// `--pinned` (read by harness.ts): the full bench with the server on CPU 0 and the load generator on CPU 1.

const modes: Record<string, (databaseUrl: string) => Promise<void>> = {
  '--full': full,
  '--pinned': full,
  '--mixed': mixed,
  '--observability': observability,
  '--overload': overload,
  '--registry': registry,
  '--soak': soak,
};
const chosen = modes[mode];
if (chosen === undefined) {
  console.error(`unknown mode ${mode}; one of ${Object.keys(modes).join(', ')}`);
  process.exit(2);
}
try {
  await run('h2load', ['--version']);
} catch {
  console.error(
    'npm run bench needs h2load (Debian: apt-get install nghttp2-client); ghz and perf_analyzer come from npm run tools',
  );
  process.exit(2);
}
console.log('building the release ...');
await run('npm', ['run', 'build'], { maxBuffer: 16 * 1024 * 1024 });
const postgres = await startTestPostgres();
try {
  console.log(`seeding ${customers} customers ...`);
  const databaseUrl = await createSeededDatabase(postgres.url, 'bench', customers);
  await chosen(databaseUrl);
} finally {
  await postgres.destroy();
}

/**
 * `npm run bench`: measures the real server (release build) against what this machine allows, in one run:
 *
 * - the real server: Score with inline features, Score by id (features from Postgres, 100,000 seeded
 *   customers), V2 ModelInfer, and a ScoreStream batch, with ghz at concurrency 1, 50 and 200;
 * - a plain grpc-js echo server with the same messages (decode + encode, no work): the transport+protobuf ceiling;
 * - a raw grpc-js server answering an empty message without decoding: the transport ceiling;
 * - an in-process ONNX Runtime loop: the compute ceiling.
 *
 * Records throughput, p50/p90/p99, server CPU (cores) and peak RSS, prints the server/echo ratios and writes
 * `bench/results/perf.{json,md}`. Modes (`npm run bench -- <mode>`):
 *   --mixed          online p99 with and without a full-speed batch stream running
 *   --observability  Score with metrics+tracing off, metrics only, metrics + tracing (sampled 100 %) to Jaeger
 *   --registry       p99 and errors of steady load while models are promoted and rolled back
 * Environment: BENCH_DURATION (seconds per run, default 8s; sized in calls from the warm-up's rate), BENCH_CUSTOMERS (seeded, default 100000).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createModelAdminClient } from '../client/src/model-admin-client.js';
import { freePort } from '../test/helpers/free-port.js';
import { createHealthClient, ServingStatus } from '../test/helpers/health-client.js';
import { trainVariant } from '../test/helpers/model-variants.js';
import { spawnServer, type ServerProcess } from '../test/helpers/server-process.js';
import { createSeededDatabase, startTestPostgres } from '../test/helpers/test-postgres.js';
import { toolPath } from '../test/helpers/tools.js';
import { startBaselineServer } from './perf/baseline-servers.js';
import { ghz, type GhzResult } from '../test/helpers/ghz.js';
import { onnxLoop } from './perf/onnx-loop.js';
import { peakRssMb, withCpu } from './perf/process-stats.js';

const run = promisify(execFile);
const mode = process.argv[2] ?? '--full';
const duration = process.env.BENCH_DURATION ?? '8s';
const customers = Number(process.env.BENCH_CUSTOMERS ?? 100_000);

const SCORING = 'proto/customer_intelligence/scoring/v1/scoring.proto';
const V2 = 'proto/inference/grpc_service.proto';
const SCORE = 'customer_intelligence.scoring.v1.ScoringService/Score';
const STREAM = 'customer_intelligence.scoring.v1.ScoringService/ScoreStream';
const INFER = 'inference.GRPCInferenceService/ModelInfer';

const inlineFeatures = {
  tenure_months: 14,
  plan_tier: 1,
  monthly_charges: 62.5,
  contract_months: 0,
  autopay: 0,
  usage_trend: -0.2,
  support_tickets_90d: 2,
  payment_failures_90d: 1,
  days_since_last_activity: 9,
  sessions_30d: 11,
  spend_12m: 820,
};
const inlineRequest = { model: 'churn', customers: [{ features: inlineFeatures }], reason_codes: 3 };
const byIdRequest = {
  model: 'churn',
  customers: [{ customer_id: `{{randomInt 1 ${customers}}}` }],
  reason_codes: 3,
};
const inferRequest = {
  model_name: 'churn',
  inputs: [
    {
      name: 'features',
      datatype: 'FP32',
      shape: [1, 11],
      contents: { fp32_contents: Object.values(inlineFeatures) },
    },
  ],
};
/** One stream call: 10 chunks × 100 customers by id. */
const CHUNK = 100;
const streamRequest = Array.from({ length: 10 }, (_, c) => ({
  chunk_id: String(c),
  model: 'churn',
  customers: Array.from({ length: CHUNK }, () => ({ customer_id: `{{randomInt 1 ${customers}}}` })),
  reason_codes: 3,
}));

interface Row {
  readonly target: string;
  readonly scenario: string;
  readonly concurrency: number;
  readonly result: GhzResult;
  readonly serverCores: number;
}

function table(rows: readonly Row[]): string {
  const lines = rows.map(
    ({ target, scenario, concurrency, result, serverCores }) =>
      `| ${target} | ${scenario} | ${concurrency} | ${Math.round(result.rps)} | ${result.p50Ms.toFixed(3)} | ${result.p90Ms.toFixed(3)} | ${result.p99Ms.toFixed(3)} | ${result.count - result.ok} | ${serverCores.toFixed(2)} |`,
  );
  return [
    '| target | scenario | concurrency | calls/s | p50 ms | p90 ms | p99 ms | errors | server cores |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...lines,
  ].join('\n');
}

async function measure(
  target: string,
  pid: number,
  scenario: string,
  run: { address: string; call: string; proto: string; data: unknown },
  concurrency: number,
  extra: { rps?: number; duration?: string } = {},
): Promise<Row> {
  const warm = await ghz({ ...run, concurrency, duration: '2s' });
  // A measured run is a fixed number of calls sized from the warm-up's rate: with --duration, ghz counts
  // the calls still in flight when time runs out as errors (Unavailable), which would not be the server's.
  const seconds = Number.parseFloat(extra.duration ?? duration);
  const total = Math.max(concurrency * 20, Math.round((extra.rps ?? warm.rps) * seconds));
  const { result, cores } = await withCpu(pid, () =>
    ghz({ ...run, concurrency, total, ...(extra.rps ? { rps: extra.rps } : {}) }),
  );
  const row = { target, scenario, concurrency, result, serverCores: cores };
  console.log(
    JSON.stringify({
      ...row,
      result: { rps: Math.round(result.rps), p50: result.p50Ms, p99: result.p99Ms, errors: result.errors },
    }),
  );
  return row;
}

/** Spawns the release build against `databaseUrl` and waits until health says SERVING; returns it with its cold start. */
async function startServer(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<{ server: ServerProcess; address: string; coldStartMs: number }> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const started = performance.now();
  const server = spawnServer(
    { DATABASE_URL: databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(port), LOG_LEVEL: 'warn', ...env },
    { compiled: true },
  );
  const health = createHealthClient(address);
  try {
    for (;;) {
      const status = await health.check({ service: '' }, { signal: AbortSignal.timeout(500) }).then(
        (r) => r.status,
        () => undefined,
      );
      if (status === ServingStatus.SERVING) break;
      if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    health.close();
  }
  return { server, address, coldStartMs: performance.now() - started };
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  await server.exited;
}

async function full(databaseUrl: string): Promise<void> {
  const rows: Row[] = [];
  const { server, address, coldStartMs } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  for (const concurrency of [1, 50, 200]) {
    rows.push(
      await measure(
        'server',
        pid,
        'Score inline',
        { address, call: SCORE, proto: SCORING, data: inlineRequest },
        concurrency,
      ),
    );
    rows.push(
      await measure(
        'server',
        pid,
        'Score by id',
        { address, call: SCORE, proto: SCORING, data: byIdRequest },
        concurrency,
      ),
    );
    rows.push(
      await measure(
        'server',
        pid,
        'V2 ModelInfer',
        { address, call: INFER, proto: V2, data: inferRequest },
        concurrency,
      ),
    );
  }
  const stream = await measure(
    'server',
    pid,
    `ScoreStream (10×${CHUNK} by id per call)`,
    { address, call: STREAM, proto: SCORING, data: streamRequest },
    4,
  );
  rows.push(stream);
  const serverPeakRss = await peakRssMb(pid);
  await stop(server);

  for (const [name, scenario] of [
    ['echo-server', 'Score (decode+encode)'],
    ['raw-server', 'Score (no decode)'],
  ] as const) {
    const baseline = await startBaselineServer(name);
    for (const concurrency of [1, 50, 200]) {
      rows.push(
        await measure(
          name.replace('-server', ''),
          baseline.pid,
          scenario,
          { address: baseline.address, call: SCORE, proto: SCORING, data: inlineRequest },
          concurrency,
        ),
      );
    }
    await baseline.stop();
  }
  const compute = [await onnxLoop(1, 3), await onnxLoop(100, 3)];

  const find = (target: string, scenario: string, c: number) =>
    rows.find((r) => r.target === target && r.scenario.startsWith(scenario) && r.concurrency === c)!;
  const ratios = [1, 50, 200].map((c) => ({
    concurrency: c,
    inlineOverEcho: find('server', 'Score inline', c).result.rps / find('echo', 'Score', c).result.rps,
    byIdOverEcho: find('server', 'Score by id', c).result.rps / find('echo', 'Score', c).result.rps,
    echoOverRaw: find('echo', 'Score', c).result.rps / find('raw', 'Score', c).result.rps,
  }));
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
    duration,
    customers,
    coldStartMs: Math.round(coldStartMs),
    serverPeakRssMb: Math.round(serverPeakRss),
    streamCustomersPerSecond: Math.round(stream.result.rps * 10 * CHUNK),
    onnxLoop: compute,
    ratios,
    rows,
  };
  const markdown = `# Performance ${results.date}

Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}; server, Postgres and ghz share it.
Real server: release build (\`node dist/server/src/main.js\`), ${customers} seeded customers; ghz ${duration} per run after a 2 s warm-up.

- Cold start (spawn → health SERVING): **${results.coldStartMs} ms**; server peak RSS: **${results.serverPeakRssMb} MB**
- ScoreStream batch: **${results.streamCustomersPerSecond} customers/s** (4 concurrent streams)
- In-process ONNX loop (compute ceiling): ${compute.map((c) => `${c.rowsPerRun} row(s): ${Math.round(c.runsPerSecond)} runs/s (${c.microsPerRun.toFixed(1)} µs/run)`).join('; ')}

${table(rows)}

| concurrency | Score inline / echo | Score by id / echo | echo / raw |
| --- | --- | --- | --- |
${ratios.map((r) => `| ${r.concurrency} | ${r.inlineOverEcho.toFixed(2)} | ${r.byIdOverEcho.toFixed(2)} | ${r.echoOverRaw.toFixed(2)} |`).join('\n')}
`;
  await write('perf', results, markdown);
}

async function mixed(databaseUrl: string): Promise<void> {
  const { server, address } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  const online = { address, call: SCORE, proto: SCORING, data: inlineRequest };
  const quiet = await measure('server', pid, 'Score inline at 300/s, alone', online, 16, {
    rps: 300,
    duration: '15s',
  });
  // A full-speed batch stream (2 streams, 10×100 customers per call) while the same online load runs.
  const batch = ghz({
    address,
    call: STREAM,
    proto: SCORING,
    data: streamRequest,
    concurrency: 2,
    duration: '17s',
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busy = await measure('server', pid, 'Score inline at 300/s, batch stream running', online, 16, {
    rps: 300,
    duration: '15s',
  });
  const batchResult = await batch;
  await stop(server);
  const results = {
    date: new Date().toISOString(),
    quiet: quiet.result,
    withBatch: busy.result,
    batchCustomersPerSecond: Math.round(batchResult.rps * 10 * CHUNK),
    p99Change: busy.result.p99Ms / quiet.result.p99Ms - 1,
  };
  const markdown = `# Online latency while a batch stream runs (${results.date})

${table([quiet, busy])}

Batch meanwhile: ${results.batchCustomersPerSecond} customers/s. Online p99 change: **${(results.p99Change * 100).toFixed(1)} %**.
`;
  await write('mixed', results, markdown);
}

async function observability(databaseUrl: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-bench-jaeger-'));
  const [otlpPort, queryPort] = [await freePort(), await freePort()];
  await writeFile(
    path.join(dir, 'jaeger.yaml'),
    stringify({
      service: {
        extensions: ['jaeger_storage', 'jaeger_query'],
        pipelines: {
          traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
        },
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
      },
      extensions: {
        jaeger_storage: { backends: { memory_store: { memory: { max_traces: 20_000 } } } },
        jaeger_query: {
          storage: { traces: 'memory_store' },
          http: { endpoint: `127.0.0.1:${queryPort}` },
          grpc: { endpoint: `127.0.0.1:${await freePort()}` },
        },
      },
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${otlpPort}` } } } },
      processors: { batch: {} },
      exporters: { jaeger_storage_exporter: { trace_storage: 'memory_store' } },
    }),
  );
  const jaeger = spawn(toolPath('jaeger'), ['--config', path.join(dir, 'jaeger.yaml')], { stdio: 'ignore' });
  const rows: Row[] = [];
  try {
    const variants: Array<[string, Record<string, string>]> = [
      ['metrics off, tracing off', { METRICS_ENABLED: 'false' }],
      ['metrics on, tracing off', {}],
      [
        'metrics on, tracing 100 % to Jaeger',
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`, TRACE_SAMPLE_RATIO: '1' },
      ],
      [
        'metrics on, tracing 10 % to Jaeger',
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`, TRACE_SAMPLE_RATIO: '0.1' },
      ],
    ];
    for (const [name, env] of variants) {
      const { server, address } = await startServer(databaseUrl, env);
      for (const concurrency of [1, 50]) {
        rows.push(
          await measure(
            name,
            server.child.pid!,
            'Score inline',
            { address, call: SCORE, proto: SCORING, data: inlineRequest },
            concurrency,
          ),
        );
      }
      await stop(server);
    }
  } finally {
    jaeger.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
  await write(
    'observability',
    { date: new Date().toISOString(), rows },
    `# Cost of metrics and tracing (${new Date().toISOString()})\n\n${table(rows)}\n`,
  );
}

async function registry(databaseUrl: string): Promise<void> {
  const { server, address } = await startServer(databaseUrl);
  const admin = createModelAdminClient(address);
  const variant = await trainVariant('churn', '2', 4242);
  await admin.registerModelVersion({
    model: 'churn',
    version: '2',
    onnx: variant.onnx,
    manifestJson: variant.manifestJson,
    setDefault: false,
  });
  const online = { address, call: SCORE, proto: SCORING, data: inlineRequest };
  const quiet = await measure('server', server.child.pid!, 'Score inline at 300/s, no swaps', online, 16, {
    rps: 300,
    duration: '15s',
  });
  const swaps: Array<{ action: string; ms: number }> = [];
  const load = measure(
    'server',
    server.child.pid!,
    'Score inline at 300/s, promote/rollback every 1.5 s',
    online,
    16,
    { rps: 300, duration: '15s' },
  );
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // after the warm-up
  for (let i = 0; i < 8; i++) {
    const started = performance.now();
    if (i % 2 === 0) await admin.setDefaultVersion({ model: 'churn', version: '2' });
    else await admin.rollbackModel({ model: 'churn' });
    swaps.push({ action: i % 2 === 0 ? 'promote' : 'rollback', ms: performance.now() - started });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  }
  const busy = await load;
  admin.close();
  await stop(server);
  const average = (action: string) => {
    const times = swaps.filter((s) => s.action === action).map((s) => s.ms);
    return times.reduce((a, b) => a + b, 0) / times.length;
  };
  const results = {
    date: new Date().toISOString(),
    quiet: quiet.result,
    swapping: busy.result,
    swaps,
    promoteMs: average('promote'),
    rollbackMs: average('rollback'),
  };
  await write(
    'registry',
    results,
    `# Model swaps under load (${results.date})\n\n${table([quiet, busy])}\n\nPromote call (load + warm + switch, new version already loaded after the first): ${results.promoteMs.toFixed(1)} ms on average; rollback call (pointer flip): ${results.rollbackMs.toFixed(1)} ms.\n`,
  );
}

async function write(name: string, results: unknown, markdown: string): Promise<void> {
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/${name}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`bench/results/${name}.md`, markdown);
  console.log(`\n${markdown}`);
}

const modes: Record<string, (databaseUrl: string) => Promise<void>> = {
  '--full': full,
  '--mixed': mixed,
  '--observability': observability,
  '--registry': registry,
};
const chosen = modes[mode];
if (chosen === undefined) {
  console.error(`unknown mode ${mode}; one of ${Object.keys(modes).join(', ')}`);
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

/**
 * `npm run bench`: measures the real server with ghz (a compiled load client, so the client does not
 * compete with the server for a Node core) and writes `bench/results/latest.{json,md}`.
 *
 * Scenarios: Score with inline features and Score by customer id (features from Postgres), one customer
 * per call, at concurrency 1 and 50. Also reports the cold start (spawn → SERVING) and the server's peak RSS.
 *
 * Options (env): BENCH_CUSTOMERS (seeded customers, default 100000), BENCH_REQUESTS (per run, default 20000).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import { createHealthClient, ServingStatus } from '../test/helpers/health-client.js';
import { spawnServer } from '../test/helpers/server-process.js';
import { createSeededDatabase, startTestPostgres } from '../test/helpers/test-postgres.js';
import { freePort } from '../test/helpers/free-port.js';
import { toolPath } from '../test/helpers/tools.js';

const run = promisify(execFile);
const customers = Number(process.env.BENCH_CUSTOMERS ?? 100_000);
const requests = Number(process.env.BENCH_REQUESTS ?? 20_000);

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

interface Scenario {
  readonly name: string;
  readonly data: unknown;
}
const scenarios: Scenario[] = [
  {
    name: 'Score inline',
    data: { model: 'churn', customers: [{ features: inlineFeatures }], reason_codes: 3 },
  },
  {
    name: 'Score by id',
    data: { model: 'churn', customers: [{ customer_id: `{{randomInt 1 ${customers}}}` }], reason_codes: 3 },
  },
];

interface GhzReport {
  rps: number;
  count: number;
  latencyDistribution: Array<{ percentage: number; latency: number }> | null;
  statusCodeDistribution: Record<string, number>;
}

async function ghz(address: string, data: unknown, concurrency: number, total: number): Promise<GhzReport> {
  const { stdout } = await run(
    toolPath('ghz'),
    [
      '--insecure',
      '--proto',
      'proto/customer_intelligence/scoring/v1/scoring.proto',
      '--import-paths',
      'proto',
      '--call',
      'customer_intelligence.scoring.v1.ScoringService/Score',
      '--data',
      JSON.stringify(data),
      '--concurrency',
      String(concurrency),
      '--connections',
      String(Math.min(concurrency, 4)),
      '--total',
      String(total),
      '--timeout',
      '5s',
      '--format',
      'json',
      address,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as GhzReport;
}

const ms = (ns: number | undefined) => (ns === undefined ? NaN : ns / 1e6);
const percentile = (report: GhzReport, p: number) =>
  ms(report.latencyDistribution?.find((entry) => entry.percentage === p)?.latency);

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Polls the health service until SERVING; returns the time it took from `since`. */
async function waitServing(address: string, since: number): Promise<number> {
  const health = createHealthClient(address);
  try {
    for (;;) {
      const status = await health
        .check({ service: '' }, { signal: AbortSignal.timeout(500) })
        .then((r) => r.status)
        .catch(() => undefined);
      if (status === ServingStatus.SERVING) return performance.now() - since;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    health.close();
  }
}

const postgres = await startTestPostgres();
try {
  console.log(`seeding ${customers} customers ...`);
  const databaseUrl = await createSeededDatabase(postgres.url, 'bench', customers);
  const port = await freePort();
  const address = `127.0.0.1:${port}`;

  const spawnedAt = performance.now();
  const server = spawnServer({ DATABASE_URL: databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(port) });
  const coldStartMs = await waitServing(address, spawnedAt);
  const serving = await server.waitForLog('serving');
  console.log(
    `cold start: ${coldStartMs.toFixed(0)} ms to SERVING (server's own start-up: ${String(serving.startupMs)} ms)`,
  );

  const rows = [];
  for (const scenario of scenarios) {
    await ghz(address, scenario.data, 50, Math.min(requests, 5_000)); // warm-up
    for (const concurrency of [1, 50]) {
      const report = await ghz(address, scenario.data, concurrency, requests);
      const row = {
        scenario: scenario.name,
        concurrency,
        requests: report.count,
        ok: report.statusCodeDistribution.OK ?? 0,
        rps: Math.round(report.rps),
        p50Ms: percentile(report, 50),
        p90Ms: percentile(report, 90),
        p99Ms: percentile(report, 99),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  const rssMb = await peakRssMb(server.child.pid!);
  server.child.kill('SIGTERM');
  await server.exited;

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
    customers,
    coldStartMs: Math.round(coldStartMs),
    peakRssMb: Math.round(rssMb),
    runs: rows,
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
  const table = [
    '| scenario | concurrency | requests | OK | req/s | p50 ms | p90 ms | p99 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.concurrency} | ${r.requests} | ${r.ok} | ${r.rps} | ${r.p50Ms.toFixed(3)} | ${r.p90Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} |`,
    ),
  ].join('\n');
  const markdown = `# Benchmark ${results.date}

Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}.
Server: \`npm start\` code path against a real Postgres with ${customers} seeded customers; load from ghz (one customer per call).

- Cold start (spawn → health SERVING): **${results.coldStartMs} ms**
- Server peak RSS: **${results.peakRssMb} MB**

${table}
`;
  await writeFile('bench/results/latest.md', markdown);
  console.log(`\n${markdown}`);
} finally {
  await postgres.destroy();
}

import { mkdir, writeFile } from 'node:fs/promises';
import { freePort } from '../../test/helpers/free-port.js';
import { ghz, type GhzResult } from '../../test/helpers/ghz.js';
import { createHealthClient, ServingStatus } from '../../test/helpers/health-client.js';
import { scrapeMetrics } from '../../test/helpers/metrics-scrape.js';
import { spawnServer, type ServerProcess } from '../../test/helpers/server-process.js';
import { perfAnalyzer, type PerfAnalyzerLevel } from '../../test/helpers/perf-analyzer.js';
import { h2load } from './h2load.js';
import { childCpuSeconds, withCpu } from './process-stats.js';

/** Seconds per measured run (`BENCH_DURATION`), sized in calls from the warm-up's rate. */
export const duration = process.env.BENCH_DURATION ?? '8s';

/** Extra server variables for an experiment (`BENCH_SERVER_ENV`, JSON), e.g. `{"MAX_BATCH_ROWS":"64"}`. */
const serverEnvironment = JSON.parse(process.env.BENCH_SERVER_ENV ?? '{}') as Record<string, string>;

/**
 * `BENCH_PIN=1` (`npm run bench -- --pinned`): the server on CPU 0 and the load generator on CPU 1
 * (`taskset`), so neither takes the other's core; Postgres runs wherever the kernel puts it.
 */
export const pinned = process.env.BENCH_PIN === '1' || process.argv.includes('--pinned');
const cpus = pinned ? '1' : undefined;

/** Extra node flags for the server (`BENCH_SERVER_NODE_ARGS`), e.g. `--cpu-prof --cpu-prof-dir=prof`. */
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');

/** What one load generator run measured (latencies in ms): what ghz and h2load both report. */
export type LoadResult = Pick<GhzResult, 'count' | 'ok' | 'rps' | 'p50Ms' | 'p90Ms' | 'p99Ms'>;

/** One measured run. */
export interface Row {
  /**
   * `ghz` (what users reproduce), `h2load` (light: the figure for ceilings and targets) or `perf_analyzer`
   * (Triton's compiled client, V2 only: what Triton users compare servers with).
   */
  readonly generator: 'ghz' | 'h2load' | 'perf_analyzer';
  readonly target: string;
  readonly scenario: string;
  readonly concurrency: number;
  readonly result: LoadResult;
  readonly serverCores: number;
  /** Server CPU per call, µs. */
  readonly serverMicrosPerCall: number;
  /** The load generator's own CPU per call, µs. */
  readonly loadMicrosPerCall: number;
}

export function table(rows: readonly Row[]): string {
  const lines = rows.map(
    (r) =>
      `| ${r.generator} | ${r.target} | ${r.scenario} | ${r.concurrency} | ${Math.round(r.result.rps)} | ${r.result.p50Ms.toFixed(3)} | ${r.result.p90Ms.toFixed(3)} | ${r.result.p99Ms.toFixed(3)} | ${r.result.count - r.result.ok} | ${r.serverCores.toFixed(2)} | ${Math.round(r.serverMicrosPerCall)} | ${Math.round(r.loadMicrosPerCall)} |`,
  );
  return [
    '| load | target | scenario | concurrency | calls/s | p50 ms | p90 ms | p99 ms | errors | server cores | server µs/call | load µs/call |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...lines,
  ].join('\n');
}

/** Server and load-generator CPU per call, in µs, of a run of `calls` calls. */
function perCall(serverCores: number, seconds: number, loadCpuSeconds: number, calls: number) {
  return {
    serverMicrosPerCall: (serverCores * seconds * 1e6) / calls,
    loadMicrosPerCall: (loadCpuSeconds * 1e6) / calls,
  };
}

/** Logs a row's headline figures as one JSON line. */
function logRow(row: Row): void {
  const { result } = row;
  console.log(
    JSON.stringify({
      ...row,
      result: {
        rps: Math.round(result.rps),
        p50: result.p50Ms,
        p99: result.p99Ms,
        errors: result.count - result.ok,
      },
    }),
  );
}

/** Warms up for 2 s, then runs a fixed number of calls sized from the warm-up rate, recording server CPU. */
export async function measure(
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
  const loadBefore = await childCpuSeconds();
  const started = performance.now();
  const { result, cores } = await withCpu(pid, () =>
    ghz({ ...run, concurrency, total, ...(extra.rps ? { rps: extra.rps } : {}), ...(cpus && { cpus }) }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const loadCpu = (await childCpuSeconds()) - loadBefore;
  const row: Row = {
    generator: 'ghz',
    target,
    scenario,
    concurrency,
    result,
    serverCores: cores,
    ...perCall(cores, elapsed, loadCpu, result.count),
  };
  logRow(row);
  return row;
}

/**
 * The same with h2load: a 2 s warm-up, then a fixed number of calls sized from its rate. h2load cannot read
 * `grpc-status`, so with `metricsPort` the server's own count of failed calls is the errors column
 * (`grpc_server_handled_total` not OK); the baselines never fail.
 */
export async function measureH2load(
  target: string,
  pid: number,
  scenario: string,
  run: { address: string; path: string; message: Uint8Array; metricsPort?: number | undefined },
  concurrency: number,
): Promise<Row> {
  const warm = await h2load({ ...run, concurrency, total: concurrency * 200, ...(cpus && { cpus }) });
  const seconds = Number.parseFloat(duration);
  const total = Math.max(concurrency * 20, Math.round(warm.rps * seconds));
  const failed = async () => (run.metricsPort === undefined ? 0 : failedCalls(run.metricsPort));
  const failedBefore = await failed();
  const started = performance.now();
  const { result, cores } = await withCpu(pid, () =>
    h2load({ ...run, concurrency, total, ...(cpus && { cpus }) }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const serverFailed = (await failed()) - failedBefore;
  const row: Row = {
    generator: 'h2load',
    target,
    scenario,
    concurrency,
    result: { ...result, ok: Math.max(0, result.ok - serverFailed) },
    serverCores: cores,
    ...perCall(cores, elapsed, result.loadCpuSeconds, result.count),
  };
  logRow(row);
  return row;
}

/** Calls the server answered with a status other than OK so far (`grpc_server_handled_total`), by method. */
async function failedCalls(metricsPort: number, method?: string): Promise<number> {
  const scrape = await scrapeMetrics(metricsPort);
  const labels = method === undefined ? {} : { grpc_method: method };
  return (
    scrape.sum('grpc_server_handled_total', labels) -
    scrape.sum('grpc_server_handled_total', { ...labels, grpc_code: 'OK' })
  );
}

/** A perf_analyzer row, with the server's own account of the requests (ModelStatistics) it printed. */
export interface PerfAnalyzerRow extends Row {
  readonly serverSide: PerfAnalyzerLevel['server'];
}

/**
 * The same with perf_analyzer (V2 ModelInfer, raw tensors, `--async`): three windows of a third of
 * {@link duration} each, reported as one (stability is not asked for: the machine is shared, and the other
 * generators' runs are not filtered either). The server is warm from the ghz runs before it. perf_analyzer
 * stops at the first failed call; the errors column is the server's count of failed ModelInfer calls, and
 * the calls for CPU per call are the ones the server handled during the run (perf_analyzer's counts cover
 * its windows only).
 */
export async function measurePerfAnalyzer(
  target: string,
  pid: number,
  scenario: string,
  run: { address: string; model: string; rows: readonly (readonly number[])[]; metricsPort: number },
  concurrency: number,
): Promise<PerfAnalyzerRow> {
  const handled = async () =>
    (await scrapeMetrics(run.metricsPort)).sum('grpc_server_handled_total', { grpc_method: 'ModelInfer' });
  const [failedBefore, handledBefore, loadBefore] = [
    await failedCalls(run.metricsPort, 'ModelInfer'),
    await handled(),
    await childCpuSeconds(),
  ];
  const started = performance.now();
  const { result, cores } = await withCpu(pid, () =>
    perfAnalyzer({
      address: run.address,
      model: run.model,
      rows: run.rows,
      concurrency: [concurrency, concurrency],
      async: true,
      measurementMs: Math.round((Number.parseFloat(duration) * 1000) / 3),
      stabilityPercent: 1000,
      maxTrials: 3,
      ...(cpus && { cpus }),
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const loadCpu = (await childCpuSeconds()) - loadBefore;
  const calls = (await handled()) - handledBefore;
  const failed = (await failedCalls(run.metricsPort, 'ModelInfer')) - failedBefore;
  const level = result.levels[0]!;
  const row: PerfAnalyzerRow = {
    generator: 'perf_analyzer',
    target,
    scenario,
    concurrency,
    result: {
      count: level.requests,
      ok: Math.max(0, level.requests - failed),
      rps: level.inferencesPerSecond,
      p50Ms: level.p50Ms,
      p90Ms: level.p90Ms,
      p99Ms: level.p99Ms,
    },
    serverCores: cores,
    ...perCall(cores, elapsed, loadCpu, calls),
    serverSide: level.server,
  };
  logRow(row);
  return row;
}

/**
 * Spawns the release build against `databaseUrl` (on CPU 0 when {@link pinned}) and waits until health says
 * SERVING; returns it with its cold start.
 */
export async function startServer(
  databaseUrl: string,
  env: Record<string, string> = {},
  options: { cpus?: string } = {},
): Promise<{ server: ServerProcess; address: string; metricsPort: number; coldStartMs: number }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const serverCpus = options.cpus ?? (pinned ? '0' : undefined);
  const address = `127.0.0.1:${port}`;
  const started = performance.now();
  const server = spawnServer(
    {
      DATABASE_URL: databaseUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(port),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
      ...serverEnvironment,
      ...env,
    },
    {
      compiled: true,
      nodeArgs: serverNodeArgs,
      ...(serverCpus && { cpus: serverCpus }),
    },
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
  return { server, address, metricsPort, coldStartMs: performance.now() - started };
}

/** SIGTERM and wait for exit. */
export async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  await server.exited;
}

/** Writes `bench/results/<name>.{json,md}` and prints the Markdown. */
export async function write(name: string, results: unknown, markdown: string): Promise<void> {
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/${name}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`bench/results/${name}.md`, markdown);
  console.log(`\n${markdown}`);
}

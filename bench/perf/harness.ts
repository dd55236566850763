import { mkdir, writeFile } from 'node:fs/promises';
import { freePort } from '../../test/helpers/free-port.js';
import { ghz, type GhzResult } from '../../test/helpers/ghz.js';
import { createHealthClient, ServingStatus } from '../../test/helpers/health-client.js';
import { spawnServer, type ServerProcess } from '../../test/helpers/server-process.js';
import { withCpu } from './process-stats.js';

/** Seconds per measured run (`BENCH_DURATION`), sized in calls from the warm-up's rate. */
export const duration = process.env.BENCH_DURATION ?? '8s';

/** Extra server variables for an experiment (`BENCH_SERVER_ENV`, JSON), e.g. `{"MAX_BATCH_ROWS":"64"}`. */
const serverEnvironment = JSON.parse(process.env.BENCH_SERVER_ENV ?? '{}') as Record<string, string>;

/** Extra node flags for the server (`BENCH_SERVER_NODE_ARGS`), e.g. `--cpu-prof --cpu-prof-dir=prof`. */
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');

/** One measured ghz run. */
export interface Row {
  readonly target: string;
  readonly scenario: string;
  readonly concurrency: number;
  readonly result: GhzResult;
  readonly serverCores: number;
}

export function table(rows: readonly Row[]): string {
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
export async function startServer(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<{ server: ServerProcess; address: string; coldStartMs: number }> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const started = performance.now();
  const server = spawnServer(
    {
      DATABASE_URL: databaseUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(port),
      LOG_LEVEL: 'warn',
      ...serverEnvironment,
      ...env,
    },
    { compiled: true, nodeArgs: serverNodeArgs },
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

/**
 * `npm run bench:batch`: batch scoring throughput — N customers from Postgres through the server's
 * ScoreStream back into Postgres — next to its ceiling, Postgres COPY moving the same N prediction rows
 * out of one table and into another. Writes `bench/results/batch.{json,md}`.
 *
 * The server runs as its own process (the `npm start` path); the score job runs in this process, exactly
 * as `npm run batch:score` runs it (same function, same defaults). Postgres, the server and the client
 * share the machine's cores.
 *
 * Options (env): BENCH_BATCH_CUSTOMERS (default 1000000; seeding takes a while), BENCH_BATCH_CHUNK_SIZE
 * (default 1000), BENCH_BATCH_IN_FLIGHT (chunks, default 8), BENCH_BATCH_REASON_CODES (default 3).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { createProgressReporter } from '../batch/src/score/progress-reporter.js';
import { runScoreJob } from '../batch/src/score/score-job.js';
import { createScoringClient } from '../client/src/scoring-client.js';
import { closePool, createPool } from '../server/src/db/pool.js';
import { createLogger } from '../server/src/telemetry/logger.js';
import { freePort } from '../test/helpers/free-port.js';
import { spawnServer } from '../test/helpers/server-process.js';
import { createSeededDatabase, startTestPostgres } from '../test/helpers/test-postgres.js';

const customers = Number(process.env.BENCH_BATCH_CUSTOMERS ?? 1_000_000);
const chunkSize = Number(process.env.BENCH_BATCH_CHUNK_SIZE ?? 1_000);
const chunksInFlight = Number(process.env.BENCH_BATCH_IN_FLIGHT ?? 8);
const reasonCodes = Number(process.env.BENCH_BATCH_REASON_CODES ?? 3);
const logger = createLogger({ level: 'info' });

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024);
}

/** COPY the run's prediction rows out of `batch_predictions` and into a fresh table of the same shape. */
async function copyCeiling(databaseUrl: string, runId: string): Promise<{ rows: number; seconds: number }> {
  const source = new pg.Client({ connectionString: databaseUrl });
  const target = new pg.Client({ connectionString: databaseUrl });
  await Promise.all([source.connect(), target.connect()]);
  try {
    // Same columns, primary key and defaults as a batch_predictions partition.
    await target.query('DROP TABLE IF EXISTS bench_copy_ceiling');
    await target.query('CREATE TABLE bench_copy_ceiling (LIKE batch_predictions INCLUDING ALL)');
    const started = performance.now();
    const into = target.query(copyFrom('COPY bench_copy_ceiling FROM STDIN'));
    await pipeline(
      source.query(
        copyTo(
          `COPY (SELECT * FROM batch_predictions WHERE run_id = ${source.escapeLiteral(runId)}) TO STDOUT`,
        ),
      ),
      into,
    );
    const seconds = (performance.now() - started) / 1000;
    return { rows: into.rowCount, seconds };
  } finally {
    await target.query('DROP TABLE IF EXISTS bench_copy_ceiling').catch(() => undefined);
    await Promise.all([source.end(), target.end()]);
  }
}

const postgres = await startTestPostgres();
try {
  console.log(`seeding ${customers} customers ...`);
  const seedStarted = performance.now();
  const databaseUrl = await createSeededDatabase(postgres.url, 'bench_batch', customers);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  console.log(`seeded in ${seedSeconds.toFixed(1)} s`);

  const port = await freePort();
  const server = spawnServer({
    DATABASE_URL: databaseUrl,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(port),
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  });
  await server.waitForLog('serving');

  const pool = createPool({
    connectionString: databaseUrl,
    max: 3,
    connectTimeoutMs: 5_000,
    applicationName: 'bench-batch',
    logger,
  });
  const client = createScoringClient(`127.0.0.1:${port}`, { retry: false });
  const runId = `bench-${Date.now()}`;
  let summary;
  try {
    summary = await runScoreJob(
      {
        pool,
        client,
        logger,
        signal: new AbortController().signal,
        progress: ({ total, initialDone, label }) =>
          createProgressReporter({ label, total, initialDone, logger, tty: false, intervalMs: 10_000 }),
      },
      {
        model: 'churn',
        modelVersion: undefined,
        runId,
        shardIndex: 0,
        shardCount: 1,
        chunkSize,
        chunksInFlight,
        reasonCodes,
        reconnectTimeoutMs: 120_000,
      },
    );
  } finally {
    client.close();
    await closePool(pool);
  }
  const serverRssMb = await peakRssMb(server.child.pid!);
  const clientRssMb = await peakRssMb(process.pid);
  server.child.kill('SIGTERM');
  await server.exited;
  if (summary.scored !== customers) throw new Error(`scored ${summary.scored} of ${customers} customers`);

  const ceiling = await copyCeiling(databaseUrl, runId);
  const batchRate = summary.scored / summary.seconds;
  const copyRate = ceiling.rows / ceiling.seconds;
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
    customers,
    settings: { chunkSize, chunksInFlight, reasonCodes, model: 'churn' },
    seedSeconds: Number(seedSeconds.toFixed(1)),
    batch: {
      seconds: Number(summary.seconds.toFixed(2)),
      customersPerSecond: Math.round(batchRate),
      reconnects: summary.reconnects,
    },
    copyCeiling: {
      rows: ceiling.rows,
      seconds: Number(ceiling.seconds.toFixed(2)),
      rowsPerSecond: Math.round(copyRate),
    },
    ratio: Number((batchRate / copyRate).toFixed(3)),
    peakRssMb: { server: serverRssMb, client: clientRssMb },
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/batch.json', `${JSON.stringify(results, null, 2)}\n`);
  const markdown = `# Batch scoring benchmark ${results.date}

Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}.
${customers.toLocaleString('en')} seeded customers (seeding: ${results.seedSeconds} s). Model \`churn\`, ${reasonCodes} reason codes,
chunks of ${chunkSize}, ${chunksInFlight} chunks in flight; server, client and Postgres share the machine.

| path | rows | seconds | rows/s |
| --- | --- | --- | --- |
| batch score: keyset ids → ScoreStream → COPY into the run's partition + checkpoint, per transaction | ${summary.scored} | ${results.batch.seconds} | ${results.batch.customersPerSecond} |
| ceiling: COPY the same prediction rows out and into a table of the same shape | ${ceiling.rows} | ${results.copyCeiling.seconds} | ${results.copyCeiling.rowsPerSecond} |

Batch / ceiling: **${(results.ratio * 100).toFixed(1)} %**. Peak RSS: server ${serverRssMb} MB, client ${clientRssMb} MB.
`;
  await writeFile('bench/results/batch.md', markdown);
  console.log(`\n${markdown}`);
} finally {
  await postgres.destroy();
}

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runScoreJob } from '../../batch/src/score/score-job.js';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { spawnBatchCli } from '../helpers/batch-cli.js';
import { freePort } from '../helpers/free-port.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// Faults during a batch run: a shard killed with SIGKILL and rerun, and a server that crashes and restarts
// under a running stream. The server runs as its own process on a fixed port so it can be killed.
const database = `test_batch_resume_${randomBytes(4).toString('hex')}`;
const customers = inject('templateCustomers');
let databaseUrl: string;
let db: pg.Pool;
let port: number;
let server: ServerProcess | undefined;

async function startServer(): Promise<ServerProcess> {
  const started = spawnServer({
    DATABASE_URL: databaseUrl,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(port),
    METRICS_PORT: '0',
    SHUTDOWN_GRACE_MS: '1000',
  });
  await started.waitForLog('serving');
  return started;
}

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  port = await freePort();
  server = await startServer();
});
afterAll(async () => {
  server?.child.kill('SIGKILL');
  await server?.exited;
  await db?.end();
  await dropDatabase(inject('postgresUrl'), database);
});

async function one<T>(sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query(sql, params);
  return rows[0] as T;
}

/** Rows, distinct customers, and customers of the store without a row, for one run. */
async function coverage(runId: string) {
  return one<{ rows: number; distinct: number; missing: number }>(
    `SELECT (SELECT count(*)::int FROM batch_predictions WHERE run_id = $1) AS rows,
            (SELECT count(DISTINCT customer_id)::int FROM batch_predictions WHERE run_id = $1) AS distinct,
            (SELECT count(*)::int FROM customer_features f WHERE NOT EXISTS
               (SELECT 1 FROM batch_predictions p WHERE p.run_id = $1 AND p.customer_id = f.customer_id)) AS missing`,
    [runId],
  );
}

describe('batch scoring faults', () => {
  it('a shard killed with SIGKILL mid-run and rerun leaves no duplicate and no missing prediction', async () => {
    const env = { DATABASE_URL: databaseUrl, SCORING_ADDRESS: `127.0.0.1:${port}` };
    const args = (shard: number, ...more: string[]) => [
      ...['--model', 'churn', '--run-id', 'killed', '--shard-count', '2', '--shard-index', String(shard)],
      ...more,
    ];
    const shard0 = spawnBatchCli('score', args(0), env);
    // Small chunks make shard 1 slow enough to be killed in the middle.
    const shard1 = spawnBatchCli('score', args(1, '--chunk-size', '5', '--chunks-in-flight', '2'), env);
    const shardScored = () =>
      one<{ n: number } | undefined>(
        "SELECT customers_scored::int AS n FROM batch_run_shards WHERE run_id = 'killed' AND shard_index = 1",
      );
    let shard1Exited = false;
    void shard1.exited.then(() => (shard1Exited = true));
    while (((await shardScored())?.n ?? 0) < 200) {
      if (shard1Exited) throw new Error(`shard 1 ended before it could be killed: ${shard1.stderr()}`);
      await sleep(10);
    }
    shard1.child.kill('SIGKILL');
    expect(await shard1.exited).toBe('SIGKILL');
    // A checkpoint COMMIT the process sent just before it died is still in its socket: Postgres runs it when it
    // reads it. Only once the killed process's sessions are gone is the checkpoint final.
    while (
      (
        await one<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ci-batch-score-1' AND datname = current_database()",
        )
      ).n > 0
    ) {
      await sleep(10);
    }
    const atKill = (await shardScored())!.n;
    expect(await shard0.exited).toBe(0);
    const shard1Total =
      customers -
      (
        await one<{ n: number }>(
          "SELECT customers_scored::int AS n FROM batch_run_shards WHERE run_id = 'killed' AND shard_index = 0",
        )
      ).n;
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(shard1Total);
    expect(await one("SELECT status FROM batch_runs WHERE run_id = 'killed'")).toEqual({ status: 'running' });

    // The rerun resumes with other chunk sizes: the checkpoint is a customer id, not a chunk number.
    const rerun = spawnBatchCli('score', args(1), env);
    expect(await rerun.exited).toBe(0);
    expect(rerun.stderr()).toMatch(
      new RegExp(
        `shard 1/2: scored ${shard1Total} customers, 0 failed \\(${shard1Total - atKill} in this process`,
      ),
    );
    expect(await coverage('killed')).toEqual({ rows: customers, distinct: customers, missing: 0 });
    expect(
      await one(
        `SELECT status, customers_scored::int AS scored,
                (SELECT array_agg(attempts ORDER BY shard_index) FROM batch_run_shards WHERE run_id = 'killed') AS attempts
         FROM batch_runs WHERE run_id = 'killed'`,
      ),
    ).toEqual({ status: 'succeeded', scored: customers, attempts: [1, 2] });
  });

  it('lets only one of two processes on the same shard write, so no customer is written twice', async () => {
    const env = { DATABASE_URL: databaseUrl, SCORING_ADDRESS: `127.0.0.1:${port}` };
    const args = ['--model', 'clv', '--run-id', 'twice', '--chunk-size', '20', '--chunks-in-flight', '2'];
    const [a, b] = [spawnBatchCli('score', args, env), spawnBatchCli('score', args, env)];
    const codes = await Promise.all([a.exited, b.exited]);
    const outputs = [a.stderr(), b.stderr()];
    if (codes[0] === 0 && codes[1] === 0) {
      // One started after the other had finished: it found the shard done.
      expect(outputs.some((output) => /had already scored 3000 customers/.test(output))).toBe(true);
    } else {
      expect([...codes].sort()).toEqual([0, 1]);
      expect(outputs[codes.indexOf(1)]).toMatch(
        /another process scores the same shard|already has an outcome/,
      );
    }
    expect(await coverage('twice')).toEqual({ rows: customers, distinct: customers, missing: 0 });
    expect(
      await one("SELECT status, customers_scored::int AS scored FROM batch_runs WHERE run_id = 'twice'"),
    ).toEqual({
      status: 'succeeded',
      scored: customers,
    });
  });

  it('reconnects with backoff when the server crashes or drains mid-stream, and resumes from its checkpoint', async () => {
    const logLines: Array<Record<string, unknown>> = [];
    const logger = createLogger({
      level: 'debug',
      destination: {
        write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>),
      },
    });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    const client = createScoringClient(`127.0.0.1:${port}`, {
      retry: false,
      channelOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
    });
    // A third of the way in the server crashes (SIGKILL: connections drop, answers in flight are lost);
    // two thirds in it drains (SIGTERM: it answers what it holds, then ends the stream with UNAVAILABLE).
    // Each time it comes back on the same port.
    const faults: Array<{ at: number; signal: NodeJS.Signals }> = [
      { at: customers / 3, signal: 'SIGKILL' },
      { at: (2 * customers) / 3, signal: 'SIGTERM' },
    ];
    let restarting: Promise<void> = Promise.resolve();
    const doneAtFault: number[] = [];
    try {
      const summary = await runScoreJob(
        {
          pool,
          client,
          logger,
          signal: new AbortController().signal,
          backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
          progress: () => ({
            update({ done }) {
              const fault = faults[doneAtFault.length];
              if (fault === undefined || done < fault.at) return;
              doneAtFault.push(done);
              restarting = restarting.then(async () => {
                const stopping = server!;
                stopping.child.kill(fault.signal);
                await stopping.exited;
                server = await startServer();
              });
            },
            finish: () => undefined,
          }),
        },
        {
          model: 'clv',
          modelVersion: undefined,
          runId: 'crash',
          shardIndex: 0,
          shardCount: 1,
          chunkSize: 10,
          chunksInFlight: 4,
          reasonCodes: 2,
          reconnectTimeoutMs: 60_000,
        },
      );
      await restarting;
      expect(doneAtFault).toHaveLength(2);
      expect(summary).toMatchObject({ scored: customers, failed: 0, runStatus: 'succeeded' });
      expect(summary.reconnects).toBeGreaterThanOrEqual(2);
      const interruptions = logLines.filter(
        (line) => line.msg === 'score stream interrupted; resuming from the checkpoint',
      );
      expect(interruptions.length).toBe(summary.reconnects);
      expect(interruptions.every((line) => typeof line.retryInMs === 'number')).toBe(true);
      expect(interruptions.some((line) => /UNAVAILABLE/.test(String(line.err)))).toBe(true);
      // Every stream after the first started after a committed checkpoint, not from the beginning.
      const opened = logLines.filter((line) => line.msg === 'score stream opened');
      expect(opened).toHaveLength(summary.reconnects + 1);
      expect(opened.slice(1).every((line) => typeof line.resumeAfter === 'string')).toBe(true);
      expect(await coverage('crash')).toEqual({ rows: customers, distinct: customers, missing: 0 });
    } finally {
      client.close();
      await pool.end();
    }
  });
});

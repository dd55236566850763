import type pg from 'pg';
import { withTransaction } from '../../../server/src/db/transaction.js';
import { UsageError } from '../../../client/src/cli/usage-error.js';
import { ensurePredictionPartition } from '../predictions/prediction-partitions.js';

/** Identifies a run of one model. */
export interface RunKey {
  readonly runId: string;
  readonly model: string;
}

/** Identifies one shard of a run. */
export interface ShardKey extends RunKey {
  readonly shardIndex: number;
}

/** `running` until every shard has finished; then `succeeded` or, if any customer failed, `failed`. */
export type RunStatus = 'running' | 'succeeded' | 'failed';

/** A `batch_runs` row. */
export interface BatchRun extends RunKey {
  readonly modelVersion: string;
  /** The run's partition day (`YYYY-MM-DD`, UTC), fixed when the run is created. */
  readonly runDate: string;
  readonly shardCount: number;
  readonly status: RunStatus;
  readonly customersScored: number;
  readonly customersFailed: number;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
}

/** A `batch_run_shards` row. */
export interface ShardState {
  readonly status: RunStatus;
  /** Last customer id whose outcome is committed (key order); `null` before the first commit. */
  readonly checkpoint: string | null;
  readonly customersScored: number;
  readonly customersFailed: number;
  /** Processes that have worked on the shard, this one included. */
  readonly attempts: number;
}

const RUN_COLUMNS = `run_id, model, model_version, run_date::text AS run_date, shard_count, status,
  customers_scored, customers_failed, started_at, finished_at`;
const SHARD_COLUMNS = 'status, checkpoint_customer_id, customers_scored, customers_failed, attempts';

/** The run, if it exists. */
export async function findRun(pool: pg.Pool, key: RunKey): Promise<BatchRun | undefined> {
  const { rows } = await pool.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM batch_runs WHERE run_id = $1 AND model = $2`,
    [key.runId, key.model],
  );
  return rows[0] && toRun(rows[0]);
}

/**
 * Registers this process on a shard, in one transaction: creates the run (with `modelVersion`, today's UTC
 * date and `shardCount`) unless it exists, creates or reopens the shard row (counting the attempt), reopens
 * a finished-with-failures run, and makes sure the run's prediction partition exists.
 *
 * @returns the run, the shard's state and the name of the run's `batch_predictions` partition.
 *
 * @throws UsageError when the run exists with another shard count or (if `pinnedVersion` is set) another
 *   model version: a run's shards must partition the customers the same way and use one model version.
 */
export async function beginShard(
  pool: pg.Pool,
  shard: ShardKey & {
    readonly shardCount: number;
    /** Model version for a new run. */
    readonly modelVersion: string;
    /** Set when the user pinned `--model-version`: an existing run must match it. */
    readonly pinnedVersion: string | undefined;
  },
): Promise<{ run: BatchRun; shard: ShardState; partition: string }> {
  return withTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO batch_runs (run_id, model, model_version, run_date, shard_count)
       VALUES ($1, $2, $3, (now() AT TIME ZONE 'UTC')::date, $4) ON CONFLICT DO NOTHING`,
      [shard.runId, shard.model, shard.modelVersion, shard.shardCount],
    );
    const runRow = await client.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM batch_runs WHERE run_id = $1 AND model = $2 FOR UPDATE`,
      [shard.runId, shard.model],
    );
    const run = toRun(runRow.rows[0]!);
    if (run.shardCount !== shard.shardCount) {
      throw new UsageError(
        `--shard-count: run ${run.runId} (${run.model}) was started with ${run.shardCount} shards, got ${shard.shardCount}`,
      );
    }
    if (shard.pinnedVersion !== undefined && shard.pinnedVersion !== run.modelVersion) {
      throw new UsageError(
        `--model-version: run ${run.runId} scores ${run.model}@${run.modelVersion}, got ${shard.pinnedVersion}`,
      );
    }
    const shardRow = await client.query<ShardRow>(
      `INSERT INTO batch_run_shards AS s (run_id, model, shard_index) VALUES ($1, $2, $3)
       ON CONFLICT (run_id, model, shard_index) DO UPDATE SET
         attempts = s.attempts + CASE WHEN s.status = 'succeeded' THEN 0 ELSE 1 END,
         status = CASE WHEN s.status = 'succeeded' THEN 'succeeded' ELSE 'running' END,
         finished_at = CASE WHEN s.status = 'succeeded' THEN s.finished_at END,
         updated_at = now()
       RETURNING ${SHARD_COLUMNS}`,
      [shard.runId, shard.model, shard.shardIndex],
    );
    const state = toShard(shardRow.rows[0]!);
    let current = run;
    if (state.status === 'running' && run.status !== 'running') {
      const reopened = await client.query<RunRow>(
        `UPDATE batch_runs SET status = 'running', finished_at = NULL
         WHERE run_id = $1 AND model = $2 RETURNING ${RUN_COLUMNS}`,
        [shard.runId, shard.model],
      );
      current = toRun(reopened.rows[0]!);
    }
    const partition = await ensurePredictionPartition(client, run.runDate);
    return { run: current, shard: state, partition };
  });
}

/**
 * Marks a shard finished — `succeeded` when none of its customers failed, else `failed` — and, once every
 * shard of the run has finished, the run too, with the shards' counts summed. Shards finishing at the
 * same moment serialise on the run row.
 *
 * @returns the run after the update.
 */
export async function finishShard(pool: pg.Pool, key: ShardKey, failed: boolean): Promise<BatchRun> {
  const row = await withTransaction(pool, async (client) => {
    await client.query('SELECT 1 FROM batch_runs WHERE run_id = $1 AND model = $2 FOR UPDATE', [
      key.runId,
      key.model,
    ]);
    await client.query(
      `UPDATE batch_run_shards SET status = $4, finished_at = now(), updated_at = now()
       WHERE run_id = $1 AND model = $2 AND shard_index = $3`,
      [key.runId, key.model, key.shardIndex, failed ? 'failed' : 'succeeded'],
    );
    const { rows } = await client.query<RunRow>(
      `WITH shards AS (
         SELECT count(*) FILTER (WHERE status <> 'running') AS finished,
                count(*) FILTER (WHERE status = 'failed') AS failed,
                coalesce(sum(customers_scored), 0) AS scored,
                coalesce(sum(customers_failed), 0) AS failures
         FROM batch_run_shards WHERE run_id = $1 AND model = $2)
       UPDATE batch_runs r SET
         customers_scored = shards.scored,
         customers_failed = shards.failures,
         status = CASE WHEN shards.finished < r.shard_count THEN 'running'
                       WHEN shards.failed > 0 THEN 'failed' ELSE 'succeeded' END,
         finished_at = CASE WHEN shards.finished < r.shard_count THEN NULL ELSE now() END
       FROM shards WHERE r.run_id = $1 AND r.model = $2
       RETURNING ${RUN_COLUMNS}`,
      [key.runId, key.model],
    );
    return rows[0]!;
  });
  return toRun(row);
}

interface RunRow {
  run_id: string;
  model: string;
  model_version: string;
  run_date: string;
  shard_count: number;
  status: RunStatus;
  customers_scored: string;
  customers_failed: string;
  started_at: Date;
  finished_at: Date | null;
}

interface ShardRow {
  status: RunStatus;
  checkpoint_customer_id: string | null;
  customers_scored: string;
  customers_failed: string;
  attempts: number;
}

function toRun(row: RunRow): BatchRun {
  return {
    runId: row.run_id,
    model: row.model,
    modelVersion: row.model_version,
    runDate: row.run_date,
    shardCount: row.shard_count,
    status: row.status,
    customersScored: Number(row.customers_scored),
    customersFailed: Number(row.customers_failed),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

function toShard(row: ShardRow): ShardState {
  return {
    status: row.status,
    checkpoint: row.checkpoint_customer_id,
    customersScored: Number(row.customers_scored),
    customersFailed: Number(row.customers_failed),
    attempts: row.attempts,
  };
}

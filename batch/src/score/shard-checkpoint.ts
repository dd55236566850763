import type pg from 'pg';
import type { ShardKey } from './batch-run-store.js';

/** Where a shard stands: its checkpoint and the outcomes committed up to it. */
export interface ShardProgress {
  /** Last customer id (key order) whose outcome is committed; `null` before the first commit. */
  readonly checkpoint: string | null;
  /** Customers with a committed prediction. */
  readonly scored: number;
  /** Customers with a committed item error. */
  readonly failed: number;
}

/**
 * Thrown when a shard's checkpoint is not where this process expected it: another process is working on
 * the same shard of the same run (or this process's previous commit failed). The transaction that noticed
 * is rolled back, so nothing is written twice.
 */
export class CheckpointConflictError extends Error {
  override readonly name = 'CheckpointConflictError';
}

/** The shard's committed progress (the shard row must exist: see `beginShard`). */
export async function readShardProgress(pool: pg.Pool, key: ShardKey): Promise<ShardProgress> {
  const { rows } = await pool.query<ProgressRow>(
    `SELECT checkpoint_customer_id, customers_scored, customers_failed FROM batch_run_shards
     WHERE run_id = $1 AND model = $2 AND shard_index = $3`,
    [key.runId, key.model, key.shardIndex],
  );
  if (rows[0] === undefined) throw new Error(`shard ${key.shardIndex} of run ${key.runId} does not exist`);
  return toProgress(rows[0]);
}

/**
 * Inside the caller's transaction: moves the shard's checkpoint from `expected` to `checkpoint` and adds
 * the counts — a compare-and-set. It first locks the shard row (`SELECT … FOR UPDATE`, held until the
 * transaction ends); if another transaction holds the lock, it waits for that one to end and then reads
 * the version it left. Only then does it compare. (A bare `UPDATE … WHERE checkpoint = expected` would not
 * do: it judges the row by the statement's snapshot, where a concurrent commit's new checkpoint is not yet
 * visible, and skips the row instead of waiting.) So two transactions can never both move the checkpoint
 * from the same value: the second finds it moved and fails.
 *
 * @throws CheckpointConflictError when the checkpoint is not `expected` (another process scores the same
 *   shard, or the transaction meant to move it first rolled back).
 */
export async function advanceCheckpoint(
  client: pg.ClientBase,
  key: ShardKey,
  expected: string | null,
  checkpoint: string,
  added: { readonly scored: number; readonly failed: number },
): Promise<void> {
  const { rows } = await client.query<{ checkpoint_customer_id: string | null }>(
    `SELECT checkpoint_customer_id FROM batch_run_shards
     WHERE run_id = $1 AND model = $2 AND shard_index = $3 FOR UPDATE`,
    [key.runId, key.model, key.shardIndex],
  );
  const found = rows[0]?.checkpoint_customer_id;
  if (found !== expected) {
    throw new CheckpointConflictError(
      `shard ${key.shardIndex} of run ${key.runId} (${key.model}) is at ${JSON.stringify(found ?? null)}, ` +
        `not ${JSON.stringify(expected)}: another process scores the same shard, or an earlier commit failed`,
    );
  }
  await client.query(
    `UPDATE batch_run_shards SET checkpoint_customer_id = $4, customers_scored = customers_scored + $5,
       customers_failed = customers_failed + $6, updated_at = now()
     WHERE run_id = $1 AND model = $2 AND shard_index = $3`,
    [key.runId, key.model, key.shardIndex, checkpoint, added.scored, added.failed],
  );
}

interface ProgressRow {
  checkpoint_customer_id: string | null;
  customers_scored: string;
  customers_failed: string;
}

function toProgress(row: ProgressRow): ShardProgress {
  return {
    checkpoint: row.checkpoint_customer_id,
    scored: Number(row.customers_scored),
    failed: Number(row.customers_failed),
  };
}

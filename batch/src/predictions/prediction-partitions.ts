import type pg from 'pg';
import { withTransaction } from '../../../server/src/db/transaction.js';

/**
 * The prediction tables partitioned by day, whose expired partitions retention drops: the batch outputs
 * (partitioned by run date) and the server's online audit log (by prediction time, in UTC days).
 */
export const DAY_PARTITIONED_TABLES = ['batch_predictions', 'prediction_audit'] as const;

/** A table of {@link DAY_PARTITIONED_TABLES}. */
export type DayPartitionedTable = (typeof DAY_PARTITIONED_TABLES)[number];

/** One partition: the parent's rows whose partition key is in `[from, to)`. */
export interface DayPartition {
  readonly table: DayPartitionedTable;
  /** Table name, e.g. `batch_predictions_20261129`. */
  readonly name: string;
  /** Lower bound (inclusive), as an instant: midnight UTC for a date key. */
  readonly from: Date;
  /** Upper bound (exclusive). */
  readonly to: Date;
}

/**
 * Makes sure the `batch_predictions` partition holding `day` (`YYYY-MM-DD`) exists — partitions are created
 * on demand, by the run that first needs one — and returns its name. Runs the migration's
 * `batch_predictions_partition`, which serialises concurrent creators; call it inside the transaction that
 * creates the run.
 */
export async function ensurePredictionPartition(client: pg.ClientBase, day: string): Promise<string> {
  const { rows } = await client.query<{ name: string }>(
    'SELECT batch_predictions_partition($1::date) AS name',
    [day],
  );
  return rows[0]!.name;
}

/**
 * The range partitions of `table`, oldest first, read from the catalog (not from names, so one created by
 * hand is listed too). A table that does not exist (an older schema) has none; a DEFAULT partition has no
 * range and is never listed.
 */
export async function listDayPartitions(pool: pg.Pool, table: DayPartitionedTable): Promise<DayPartition[]> {
  const rows = await withTransaction(pool, async (client) => {
    // pg_get_expr prints timestamptz bounds in the session's zone; read them back in the same zone.
    await client.query("SET LOCAL TIME ZONE 'UTC'");
    const result = await client.query<{ name: string; from: Date; to: Date }>(
      `SELECT c.relname AS name, b.bounds[1]::timestamptz AS "from", b.bounds[2]::timestamptz AS "to"
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)')
         AS b(bounds)
       WHERE i.inhparent = to_regclass($1)
       ORDER BY 2`,
      [table],
    );
    return result.rows;
  });
  return rows.map((row) => ({ table, name: row.name, from: row.from, to: row.to }));
}

/**
 * Drops a partition: a catalog operation, however many rows it holds. It waits at most `lockTimeoutMs` for
 * its locks (a long reader of that partition, the parent's writers between two transactions) rather than
 * making every writer of the parent queue behind it.
 */
export async function dropPartition(pool: pg.Pool, name: string, lockTimeoutMs: number): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    await client.query(`DROP TABLE ${client.escapeIdentifier(name)}`);
  });
}

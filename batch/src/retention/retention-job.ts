import type pg from 'pg';
import type { Logger } from '../../../server/src/telemetry/logger.js';
import {
  DAY_PARTITIONED_TABLES,
  dropPartition,
  listDayPartitions,
  type DayPartition,
} from '../predictions/prediction-partitions.js';

/** Options of {@link applyRetention}. */
export interface RetentionOptions {
  /** Days to keep, today (UTC) not counted: 30 keeps what is dated 30 days ago and later. */
  readonly retentionDays: number;
  /** Report what would be dropped, drop nothing. @default false */
  readonly dryRun?: boolean;
  /** How long each DROP waits for its locks, in ms. @default 10000 */
  readonly lockTimeoutMs?: number;
  /** The current time. @default new Date() */
  readonly now?: Date;
}

/** What {@link applyRetention} dropped (or, in a dry run, would drop). */
export interface RetentionResult {
  /** First day kept (`YYYY-MM-DD`, UTC). */
  readonly cutoff: string;
  readonly droppedPartitions: readonly DayPartition[];
  readonly keptPartitions: readonly DayPartition[];
  /** `batch_runs` rows deleted (their shards and item errors go with them). */
  readonly deletedRuns: number;
}

/**
 * Drops prediction data older than the retention: every partition of the batch outputs
 * (`batch_predictions`) and of the online audit log (`prediction_audit`) that ends on or before the cutoff
 * day — one `DROP TABLE` each, however many rows — and the `batch_runs` dated before it, with their shards
 * and item errors. A partition that straddles the cutoff is kept whole. Idempotent.
 *
 * @throws the first failed DROP (e.g. on `lock_timeout`); what was dropped before it stays dropped.
 */
export async function applyRetention(
  pool: pg.Pool,
  logger: Logger,
  options: RetentionOptions,
): Promise<RetentionResult> {
  const now = options.now ?? new Date();
  const cutoff = new Date(
    Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - options.retentionDays),
  );
  const cutoffDay = cutoff.toISOString().slice(0, 10);
  const partitions = (
    await Promise.all(DAY_PARTITIONED_TABLES.map((table) => listDayPartitions(pool, table)))
  ).flat();
  const expired = partitions.filter((partition) => partition.to.getTime() <= cutoff.getTime());
  const kept = partitions.filter((partition) => partition.to.getTime() > cutoff.getTime());
  if (options.dryRun) {
    const { rows } = await pool.query<{ count: string }>(
      'SELECT count(*) FROM batch_runs WHERE run_date < $1::date',
      [cutoffDay],
    );
    return {
      cutoff: cutoffDay,
      droppedPartitions: expired,
      keptPartitions: kept,
      deletedRuns: Number(rows[0]?.count),
    };
  }
  for (const partition of expired) {
    await dropPartition(pool, partition.name, options.lockTimeoutMs ?? 10_000);
    logger.info(
      { table: partition.table, partition: partition.name, from: partition.from, to: partition.to },
      'dropped expired partition',
    );
  }
  const deleted = await pool.query('DELETE FROM batch_runs WHERE run_date < $1::date', [cutoffDay]);
  return {
    cutoff: cutoffDay,
    droppedPartitions: expired,
    keptPartitions: kept,
    deletedRuns: deleted.rowCount ?? 0,
  };
}

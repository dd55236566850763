import { SpanStatusCode, type Link, type Tracer } from '@opentelemetry/api';
import type { DatabasePool } from '../db/rotating-pool.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { AuditEntry } from './audit-entry.js';

/** Audit rows written by one multi-row INSERT. `id` (a UUID) makes the write idempotent. */
export interface AuditBatch {
  readonly id: string;
  readonly rows: readonly AuditEntry[];
}

/** Writes audit batches (Score and ModelInfer rows alike) to `prediction_audit`, each at most once. */
export interface AuditBatchWriter {
  /**
   * Inserts the batch's rows, creating the day partitions they need, unless a batch with the same id was
   * already committed.
   *
   * @returns true when the rows were inserted now, false when the id was already committed.
   * @throws the database error; whether or not the rows committed, writing the batch again is safe.
   */
  write(batch: AuditBatch, source: 'live' | 'replay'): Promise<boolean>;
  /** Deletes committed batch ids older than a day, at most once an hour (in the background). */
  pruneIds(): void;
}

// The batch id goes into `prediction_audit_batches` in the same statement (so the same transaction) as
// the rows; when the id is already there, the rows are not inserted again. Score rows have no `row_index`
// and `outputs` (null).
const INSERT = `WITH batch AS (
    INSERT INTO prediction_audit_batches (batch_id) VALUES ($13::uuid) ON CONFLICT DO NOTHING RETURNING 1
  )
  INSERT INTO prediction_audit
  (predicted_at, request_id, principal, customer_id, model, model_version, score, feature_source, trace_id,
   method, row_index, outputs)
  SELECT to_timestamp(ms / 1000), request_id, principal, customer_id, model, model_version, score,
         feature_source, trace_id, method, row_index, outputs
  FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],
              $8::text[], $9::text[], $10::text[], $11::int4[], $12::jsonb[])
    AS u(ms, request_id, principal, customer_id, model, model_version, score, feature_source, trace_id,
         method, row_index, outputs)
  WHERE EXISTS (SELECT 1 FROM batch)`;

/** Batch ids are only needed while a batch could be presented again (a retry, a replay after a restart). */
const PRUNE_IDS = `DELETE FROM prediction_audit_batches WHERE written_at < now() - interval '1 day'`;
const PRUNE_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * Creates the writer: one `unnest` INSERT per batch into the day-partitioned `prediction_audit` table,
 * creating day partitions as they are first needed, in a root span linked to the audited calls' spans.
 * The batch id is recorded in `prediction_audit_batches` by the same statement, which makes a batch
 * written twice — retried after a failure that hid a commit, or replayed from a spill file after a crash
 * between commit and delete — land once.
 */
export function createAuditBatchWriter(deps: {
  pool: DatabasePool;
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}): AuditBatchWriter {
  const { pool, logger, metrics, tracer } = deps;
  const partitions = new Set<string>();
  let prunedAt = 0;

  async function ensurePartitions(rows: readonly AuditEntry[]): Promise<void> {
    const days = new Set<string>();
    let lastDay = NaN;
    for (const row of rows) {
      const day = Math.floor(row.predictedAt.getTime() / DAY_MS);
      if (day === lastDay) continue; // rows come in time order: mostly one day per batch
      lastDay = day;
      days.add(new Date(day * DAY_MS).toISOString().slice(0, 10));
    }
    for (const day of days) {
      if (partitions.has(day)) continue;
      await pool.query('SELECT prediction_audit_partition($1::date)', [day]);
      partitions.add(day);
    }
  }

  return {
    async write(batch, source) {
      const { rows } = batch;
      const links: Link[] = rows
        .filter((row) => row.traceId !== null && row.spanId !== null)
        .slice(0, 64)
        .map((row) => ({ context: { traceId: row.traceId!, spanId: row.spanId!, traceFlags: 1 } }));
      const span = tracer.startSpan('audit.write', {
        root: true,
        links,
        attributes: { 'ci.rows': rows.length, 'ci.audit_source': source },
      });
      const stopTimer = metrics.auditWriteSeconds.startTimer();
      try {
        await ensurePartitions(rows);
        const result = await pool.query(INSERT, [
          // Epoch milliseconds, not Dates: pg formats every Date of an array as local-time text.
          rows.map((row) => row.predictedAt.getTime()),
          rows.map((row) => row.requestId),
          rows.map((row) => row.principal),
          rows.map((row) => row.customerId),
          rows.map((row) => row.model),
          rows.map((row) => row.modelVersion),
          rows.map((row) => row.score),
          rows.map((row) => row.featureSource),
          rows.map((row) => row.traceId),
          rows.map((row) => row.method ?? 'Score'),
          rows.map((row) => (row.method === 'ModelInfer' ? row.rowIndex : null)),
          rows.map((row) => (row.method === 'ModelInfer' ? JSON.stringify(row.outputs) : null)),
          batch.id,
        ]);
        return rows.length === 0 || (result.rowCount ?? 0) > 0;
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
        throw error;
      } finally {
        stopTimer();
        span.end();
      }
    },

    pruneIds() {
      if (Date.now() - prunedAt < PRUNE_INTERVAL_MS) return;
      prunedAt = Date.now();
      void pool
        .query(PRUNE_IDS)
        .catch((error: unknown) => logger.warn({ err: error }, 'pruning audit batch ids failed'));
    },
  };
}

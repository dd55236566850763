import { setTimeout as sleep } from 'node:timers/promises';
import { SpanStatusCode, type Link, type Tracer } from '@opentelemetry/api';
import type { DatabasePool } from '../db/rotating-pool.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

/** One audited prediction. */
export interface AuditEntry {
  readonly predictedAt: Date;
  readonly requestId: string;
  /** The authenticated caller, once authentication exists; null until then. */
  readonly principal: string | null;
  readonly customerId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly score: number;
  readonly featureSource: 'store' | 'inline' | 'fallback';
  /** Trace and span of the call, when it was traced. */
  readonly traceId: string | null;
  readonly spanId: string | null;
}

/** Options for {@link createPredictionAuditLog}. */
export interface PredictionAuditLogOptions {
  /** Rows held in memory while the database is slow or down; beyond it the oldest are dropped (counted). */
  maxBufferedRows: number;
  /** How often queued rows are written, in ms. */
  flushIntervalMs: number;
  /** Rows per INSERT. @default 5000 */
  maxRowsPerInsert?: number;
}

/** The online prediction audit log: a bounded, asynchronous, batched writer. */
export interface PredictionAuditLog {
  /** Queues entries. Never blocks and never throws: when the buffer is full the oldest rows go. */
  record(entries: readonly AuditEntry[]): void;
  /** Writes everything queued now. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left (bounded by the shutdown step's timeout). */
  close(): Promise<void>;
}

const INSERT = `INSERT INTO prediction_audit
  (predicted_at, request_id, principal, customer_id, model, model_version, score, feature_source, trace_id)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::float8[], $8::text[], $9::text[])`;

/**
 * Creates the audit writer. Calls only append to an in-memory buffer; a timer writes the buffer in
 * multi-row INSERTs (one `unnest` per batch) into the day-partitioned `prediction_audit` table, creating
 * day partitions as they are first needed. When a write fails the rows stay queued and are retried on
 * the next tick; the buffer is bounded, and what overflows is counted in `ci_audit_rows_total{outcome="dropped"}`.
 */
export function createPredictionAuditLog(
  deps: { pool: DatabasePool; logger: Logger; metrics: Metrics; tracer: Tracer },
  options: PredictionAuditLogOptions,
): PredictionAuditLog {
  const { pool, logger, metrics, tracer } = deps;
  const maxRowsPerInsert = options.maxRowsPerInsert ?? 5_000;
  let buffer: AuditEntry[] = [];
  const partitions = new Set<string>();
  let writing: Promise<void> | undefined;
  let closed = false;
  let failures = 0;

  async function ensurePartitions(rows: readonly AuditEntry[]): Promise<void> {
    const days = new Set(rows.map((row) => row.predictedAt.toISOString().slice(0, 10)));
    for (const day of days) {
      if (partitions.has(day)) continue;
      await pool.query('SELECT prediction_audit_partition($1::date)', [day]);
      partitions.add(day);
    }
  }

  async function insert(rows: readonly AuditEntry[]): Promise<void> {
    const links: Link[] = rows
      .filter((row) => row.traceId !== null && row.spanId !== null)
      .slice(0, 64)
      .map((row) => ({ context: { traceId: row.traceId!, spanId: row.spanId!, traceFlags: 1 } }));
    const span = tracer.startSpan('audit.write', {
      root: true,
      links,
      attributes: { 'ci.rows': rows.length },
    });
    const stopTimer = metrics.auditWriteSeconds.startTimer();
    try {
      await ensurePartitions(rows);
      await pool.query(INSERT, [
        rows.map((row) => row.predictedAt),
        rows.map((row) => row.requestId),
        rows.map((row) => row.principal),
        rows.map((row) => row.customerId),
        rows.map((row) => row.model),
        rows.map((row) => row.modelVersion),
        rows.map((row) => row.score),
        rows.map((row) => row.featureSource),
        rows.map((row) => row.traceId),
      ]);
      metrics.auditRows.inc({ outcome: 'written' }, rows.length);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      stopTimer();
      span.end();
    }
  }

  async function writeQueued(): Promise<void> {
    while (buffer.length > 0) {
      const rows = buffer.slice(0, maxRowsPerInsert);
      try {
        await insert(rows);
      } catch (error) {
        failures++;
        if (failures === 1 || failures % 100 === 0) {
          logger.warn(
            { err: error, queued: buffer.length, failures },
            'prediction audit write failed; will retry',
          );
        }
        return;
      }
      failures = 0;
      buffer = buffer.slice(rows.length);
    }
    metrics.auditBufferedRows.set(buffer.length);
  }

  const flush = (): Promise<void> => {
    writing ??= writeQueued().finally(() => {
      writing = undefined;
      metrics.auditBufferedRows.set(buffer.length);
    });
    return writing;
  };

  const timer = setInterval(() => void flush(), options.flushIntervalMs);
  timer.unref();

  return {
    record(entries) {
      if (closed || entries.length === 0) return;
      buffer.push(...entries);
      const overflow = buffer.length - options.maxBufferedRows;
      if (overflow > 0) {
        buffer = buffer.slice(overflow);
        metrics.auditRows.inc({ outcome: 'dropped' }, overflow);
      }
      metrics.auditBufferedRows.set(buffer.length);
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      // Keep trying while rows remain and the write makes progress (the step's timeout bounds this).
      for (let attempt = 0; buffer.length > 0 && attempt < 20; attempt++) {
        await flush();
        if (buffer.length > 0) await sleep(100);
      }
      if (buffer.length > 0) {
        logger.error({ lost: buffer.length }, 'prediction audit rows could not be written before shutdown');
        metrics.auditRows.inc({ outcome: 'dropped' }, buffer.length);
      }
    },
  };
}

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Tracer } from '@opentelemetry/api';
import type { DatabasePool } from '../db/rotating-pool.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { createAuditBatchWriter, type AuditBatch } from './audit-batch-writer.js';
import type { AuditEntry } from './audit-entry.js';
import type { AuditSpill } from './audit-spill.js';
import { replaySpill } from './spill-replay.js';

export type { AuditEntry } from './audit-entry.js';

/** Options for {@link createPredictionAuditLog}. */
export interface PredictionAuditLogOptions {
  /**
   * Rows held in memory while the database is slow or down. Beyond it the queue goes to the spill when
   * there is one; without one the oldest rows are dropped (counted).
   */
  maxBufferedRows: number;
  /** How often queued rows are written, in ms. */
  flushIntervalMs: number;
  /** Rows per INSERT (and per spill segment). @default 5000 */
  maxRowsPerInsert?: number;
  /** Local disk for rows the database cannot take (see `audit-spill.ts`); unset = such rows are dropped. */
  spill?: AuditSpill | undefined;
  /** With a spill: how long `close()` keeps trying the database before spilling what is left, in ms. @default 3000 */
  closeWriteTimeoutMs?: number;
}

/** The online prediction audit log: a bounded, asynchronous, batched writer. */
export interface PredictionAuditLog {
  /** Queues entries. Never blocks and never throws: when the buffer is full it spills, or the oldest rows go. */
  record(entries: readonly AuditEntry[]): void;
  /** Writes everything queued now. */
  flush(): Promise<void>;
  /**
   * Stops the timer and writes what is left; with a spill, what the database does not take within
   * `closeWriteTimeoutMs` is spilled for the next process. Idempotent.
   */
  close(): Promise<void>;
}

/** A batch of the live writer. */
interface Batch extends AuditBatch {
  /** Handed to the spill at shutdown while its write was still in flight: the replay counts it. */
  spilled?: boolean;
}

const MAX_REPLAY_BACKOFF_MS = 30_000;

/**
 * Creates the audit log. Calls only append to an in-memory buffer; a timer writes the buffer in batches of
 * up to `maxRowsPerInsert` rows (`audit-batch-writer.ts`: one multi-row INSERT each, into day partitions).
 * When a write fails the batch stays queued and is retried on the next tick under the same batch id.
 *
 * When the buffer passes `maxBufferedRows` (the database is down or behind) and a spill is configured, the
 * queue is written to local disk; once a database write succeeds again — and at start-up, for files a
 * previous process left — the spill is replayed in the background, segment by segment, each deleted only
 * after its rows are committed. Delivery is exactly-once: every batch, live or replayed, carries an id
 * recorded in the same statement as its rows (`prediction_audit_batches`), so a retry after an ambiguous
 * failure or a replay after a crash between commit and delete inserts nothing twice.
 *
 * Rows are lost, and counted in `ci_audit_rows_total{outcome="dropped"}`, only when the buffer overflows
 * without a spill, when the spill is full (`maxBytes`) or the disk fails, or at shutdown without a spill.
 */
export function createPredictionAuditLog(
  deps: { pool: DatabasePool; logger: Logger; metrics: Metrics; tracer: Tracer },
  options: PredictionAuditLogOptions,
): PredictionAuditLog {
  const { logger, metrics } = deps;
  const { spill } = options;
  const maxRowsPerInsert = options.maxRowsPerInsert ?? 5_000;
  const closeWriteTimeoutMs = options.closeWriteTimeoutMs ?? 3_000;
  let buffer: AuditEntry[] = [];
  /** The oldest batch: being written, or failed and waiting to be retried with the same id. */
  let head: Batch | undefined;
  const writer = createAuditBatchWriter(deps);
  let writing: Promise<void> | undefined;
  let failures = 0;
  let spilling: Promise<void> = Promise.resolve();
  let rowsWaitingForDisk = 0;
  let spillFailures = 0;
  let spillFull = 0;
  let replaying: Promise<void> | undefined;
  let replayFailures = 0;
  let replayNotBefore = 0;
  let closing: Promise<void> | undefined;

  const queued = () => buffer.length + (head?.rows.length ?? 0);
  if (spill) metrics.auditSpillMaxBytes.set(spill.maxBytes);
  const updateGauges = () => {
    metrics.auditBufferedRows.set(queued());
    if (spill) metrics.auditSpillBytes.set(spill.bytes);
  };

  async function writeQueued(): Promise<void> {
    for (;;) {
      if (head === undefined) {
        if (buffer.length === 0) return;
        const rows = buffer.slice(0, maxRowsPerInsert);
        buffer = buffer.slice(rows.length);
        head = { id: randomUUID(), rows };
      }
      const batch = head;
      try {
        await writer.write(batch, 'live');
      } catch (error) {
        failures++;
        if (failures === 1 || failures % 100 === 0) {
          logger.warn(
            { err: error, queued: queued(), failures },
            'prediction audit write failed; will retry',
          );
        }
        return;
      }
      if (head === batch) head = undefined;
      if (batch.spilled !== true) metrics.auditRows.inc({ outcome: 'written' }, batch.rows.length);
      // The database is back: the spill may be replayed right away.
      if (failures > 0) replayNotBefore = 0;
      failures = 0;
      writer.pruneIds();
    }
  }

  const flush = (): Promise<void> => {
    writing ??= writeQueued().finally(() => {
      writing = undefined;
      updateGauges();
    });
    return writing;
  };

  function toBatches(rows: readonly AuditEntry[]): Batch[] {
    const batches: Batch[] = [];
    for (let i = 0; i < rows.length; i += maxRowsPerInsert) {
      batches.push({ id: randomUUID(), rows: rows.slice(i, i + maxRowsPerInsert) });
    }
    return batches;
  }

  /** Queues batches for the disk (one segment each); `force` (shutdown) ignores the in-flight bound. */
  function spillBatches(disk: AuditSpill, batches: readonly Batch[], force: boolean): void {
    const count = batches.reduce((sum, batch) => sum + batch.rows.length, 0);
    // Rows waiting for a slow disk are memory too: while a full buffer's worth still waits, more are dropped.
    if (!force && rowsWaitingForDisk >= options.maxBufferedRows) {
      metrics.auditRows.inc({ outcome: 'dropped' }, count);
      return;
    }
    rowsWaitingForDisk += count;
    spilling = spilling.then(async () => {
      for (const batch of batches) {
        let written = 0;
        try {
          written = await disk.write(batch.id, batch.rows);
          if (written < batch.rows.length && (spillFull++ === 0 || spillFull % 100 === 0)) {
            logger.error(
              { lost: batch.rows.length - written, bytes: disk.bytes },
              'audit spill is full; rows dropped',
            );
          }
        } catch (error) {
          if (spillFailures++ === 0 || spillFailures % 100 === 0) {
            logger.error({ err: error, rows: batch.rows.length }, 'audit spill write failed; rows dropped');
          }
        }
        rowsWaitingForDisk -= batch.rows.length;
        if (written > 0) metrics.auditRows.inc({ outcome: 'spilled' }, written);
        if (written < batch.rows.length) {
          metrics.auditRows.inc({ outcome: 'dropped' }, batch.rows.length - written);
        }
      }
      updateGauges();
    });
  }

  /** Starts a background replay when there may be something to replay and the database looks up. */
  function maybeReplay(): void {
    if (!spill || replaying || closing || failures > 0 || Date.now() < replayNotBefore) return;
    replaying = replaySpill({
      disk: spill,
      writer,
      logger,
      metrics,
      stopping: () => closing !== undefined,
      onSegment: updateGauges,
    })
      .then(() => {
        replayFailures = 0;
      })
      .catch((error: unknown) => {
        replayFailures++;
        const backoffMs = Math.min(MAX_REPLAY_BACKOFF_MS, options.flushIntervalMs * 2 ** replayFailures);
        replayNotBefore = Date.now() + backoffMs;
        if (replayFailures === 1 || replayFailures % 10 === 0) {
          logger.warn(
            { err: error, failures: replayFailures, backoffMs },
            'audit spill replay failed; will retry',
          );
        }
      })
      .finally(() => {
        replaying = undefined;
        updateGauges();
      });
  }

  const timer = setInterval(() => void flush().then(maybeReplay), options.flushIntervalMs);
  timer.unref();

  async function closeWithSpill(disk: AuditSpill): Promise<void> {
    // Try the database for a while; the replay stops between segments and leaves its files for the next start.
    const deadline = Date.now() + closeWriteTimeoutMs;
    while (queued() > 0 && Date.now() < deadline) {
      await within(flush(), deadline - Date.now());
      if (queued() > 0) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
    }
    const batches: Batch[] = [];
    if (head !== undefined) {
      // Possibly still in flight: the segment keeps the batch id, so whichever commits first wins.
      head.spilled = true;
      batches.push(head);
      head = undefined;
    }
    batches.push(...toBatches(buffer));
    buffer = [];
    if (batches.length > 0) {
      const rows = batches.reduce((sum, batch) => sum + batch.rows.length, 0);
      logger.warn({ rows }, 'prediction audit rows not written before shutdown; spilling them');
      spillBatches(disk, batches, true);
    }
    await spilling;
    await within(replaying, closeWriteTimeoutMs);
    updateGauges();
  }

  async function closeWithoutSpill(): Promise<void> {
    // Keep trying while rows remain and the write makes progress (the step's timeout bounds this).
    for (let attempt = 0; queued() > 0 && attempt < 20; attempt++) {
      await flush();
      if (queued() > 0) await sleep(100);
    }
    if (queued() > 0) {
      logger.error({ lost: queued() }, 'prediction audit rows could not be written before shutdown');
      metrics.auditRows.inc({ outcome: 'dropped' }, queued());
    }
  }

  return {
    record(entries) {
      if (closing !== undefined || entries.length === 0) return;
      buffer.push(...entries);
      const overflow = queued() - options.maxBufferedRows;
      if (overflow > 0) {
        if (spill) {
          spillBatches(spill, toBatches(buffer), false);
          buffer = [];
        } else {
          const dropped = Math.min(overflow, buffer.length);
          buffer = buffer.slice(dropped);
          metrics.auditRows.inc({ outcome: 'dropped' }, dropped);
        }
      }
      metrics.auditBufferedRows.set(queued());
    },
    flush,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await (spill ? closeWithSpill(spill) : closeWithoutSpill());
      })();
      return closing;
    },
  };
}

/** Waits for `promise` (never rejecting) or `ms`, whichever comes first, and leaves no timer behind. */
async function within(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise?.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, ms));
    }),
  ]);
  clearTimeout(timer);
}

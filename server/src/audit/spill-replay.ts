import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { AuditBatchWriter } from './audit-batch-writer.js';
import type { AuditSpill } from './audit-spill.js';

/**
 * Writes what the spill holds back to the database, segment by segment, oldest first; each segment is
 * deleted only after its rows are committed, and carries its batch id, so a segment a crashed process had
 * already written inserts nothing twice. Stops between segments once `stopping()` says so (shutdown), and
 * leaves the rest for the next start. Rejects when a write fails (the caller backs off and retries).
 */
export async function replaySpill(deps: {
  disk: AuditSpill;
  writer: AuditBatchWriter;
  logger: Logger;
  metrics: Metrics;
  stopping: () => boolean;
  /** Called after each segment (gauges). */
  onSegment: () => void;
}): Promise<void> {
  const { disk, writer, logger, metrics } = deps;
  const segments = await disk.segments();
  if (segments.length === 0) return;
  logger.info({ segments: segments.length, bytes: disk.bytes }, 'replaying spilled prediction audit rows');
  let replayed = 0;
  for (const segment of segments) {
    if (deps.stopping()) return;
    let read: Awaited<ReturnType<AuditSpill['read']>>;
    try {
      read = await disk.read(segment);
    } catch (error) {
      logger.error({ err: error, file: segment.file }, 'cannot read an audit spill segment; skipped');
      continue;
    }
    if (read.rows.length > 0 && !(await writer.write({ id: segment.id, rows: read.rows }, 'replay'))) {
      // A process died between committing this segment and deleting it: the rows are already there.
      logger.info({ file: segment.file, rows: read.rows.length }, 'audit spill segment was already written');
    }
    await disk.remove(segment);
    metrics.auditRows.inc({ outcome: 'replayed' }, read.rows.length);
    if (read.unreadable > 0) {
      logger.error({ lines: read.unreadable, file: segment.file }, 'unreadable audit spill lines dropped');
      metrics.auditRows.inc({ outcome: 'dropped' }, read.unreadable);
    }
    replayed += read.rows.length;
    deps.onSegment();
  }
  logger.info({ rows: replayed, bytes: disk.bytes }, 'replayed spilled prediction audit rows');
}

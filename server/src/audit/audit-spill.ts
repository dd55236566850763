import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../telemetry/logger.js';
import type { AuditEntry, AuditOutputValue, ModelInferAuditEntry, ScoreAuditEntry } from './audit-entry.js';

/** Options for {@link createAuditSpill}. */
export interface AuditSpillOptions {
  /** Directory of the spill segments; created (mode 0700) when missing. One directory per process. */
  readonly dir: string;
  /** Bytes all segments together may hold; rows that do not fit are refused. */
  readonly maxBytes: number;
}

/** One spill file: a batch of audit rows the database could not take, waiting to be replayed. */
export interface SpillSegment {
  /** The batch id (a UUID): the key that makes writing the batch to the database idempotent. */
  readonly id: string;
  readonly file: string;
  readonly bytes: number;
}

/**
 * Audit rows kept on local disk while the database is unavailable.
 *
 * Format: one file per segment, `<ms since epoch, 15 digits>-<batch id>.ndjson`, one JSON object per line
 * (the {@link AuditEntry} fields, times as ISO-8601; a line without `method` is a Score row, so segments
 * written before ModelInfer calls were audited replay unchanged). A segment is written to `*.tmp`, fsynced
 * and renamed, so a segment file is either complete or absent; `*.tmp` files left by a crash are deleted
 * when the directory is opened.
 */
export interface AuditSpill {
  /** Bytes on disk now (segments only). */
  readonly bytes: number;
  /** The bound on {@link bytes}. */
  readonly maxBytes: number;
  /** The segments on disk, oldest first (waits for the directory scan). */
  segments(): Promise<readonly SpillSegment[]>;
  /**
   * Writes `rows` as one segment with batch id `id`, or as much of them as fits under the bound.
   *
   * @returns how many rows (a prefix of `rows`) were written; the rest were refused.
   * @throws when the disk write fails (nothing of the segment is left behind).
   */
  write(id: string, rows: readonly AuditEntry[]): Promise<number>;
  /**
   * Reads a segment back. A line that does not parse (a damaged disk) is skipped and counted.
   *
   * @returns the rows, and how many lines were unreadable.
   */
  read(segment: SpillSegment): Promise<{ rows: AuditEntry[]; unreadable: number }>;
  /** Deletes a segment (already gone is fine). */
  remove(segment: SpillSegment): Promise<void>;
}

const SEGMENT = /^(\d{15})-([0-9a-f-]{36})\.ndjson$/;

/**
 * Opens the spill directory in the background: creates it, deletes leftover `*.tmp` files and lists the
 * segments a previous process left. A directory that cannot be opened is logged; every write then fails.
 */
export function createAuditSpill(deps: { logger: Logger }, options: AuditSpillOptions): AuditSpill {
  const { logger } = deps;
  const { dir, maxBytes } = options;
  const known = new Map<string, SpillSegment>();
  let bytes = 0;

  async function scan(): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of (await readdir(dir)).sort()) {
      const file = path.join(dir, name);
      if (name.endsWith('.tmp')) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      const match = SEGMENT.exec(name);
      if (!match) continue;
      const size = (await stat(file)).size;
      known.set(file, { id: match[2]!, file, bytes: size });
      bytes += size;
    }
    if (known.size > 0) {
      logger.info({ dir, segments: known.size, bytes }, 'found spilled prediction audit rows to replay');
    }
  }
  const opened = scan();
  opened.catch((error: unknown) =>
    logger.error({ err: error, dir }, 'cannot open the audit spill directory; spilled rows will be dropped'),
  );

  return {
    get bytes() {
      return bytes;
    },
    maxBytes,

    async segments() {
      await opened.catch(() => undefined);
      return [...known.values()].sort((a, b) => (a.file < b.file ? -1 : 1));
    },

    async write(id, rows) {
      await opened;
      const lines: string[] = [];
      let size = 0;
      for (const row of rows) {
        const line = JSON.stringify(row) + '\n';
        const lineBytes = Buffer.byteLength(line);
        if (bytes + size + lineBytes > maxBytes) break;
        lines.push(line);
        size += lineBytes;
      }
      if (lines.length === 0) return 0;
      const name = `${String(Date.now()).padStart(15, '0')}-${id}.ndjson`;
      const file = path.join(dir, name);
      const tmp = `${file}.${randomUUID()}.tmp`;
      // Reserve the bytes before the first await, so concurrent writers cannot pass the bound together.
      bytes += size;
      try {
        const handle = await open(tmp, 'wx', 0o600);
        try {
          await handle.writeFile(lines.join(''));
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, file);
        await syncDirectory(dir);
      } catch (error) {
        bytes -= size;
        await unlink(tmp).catch(() => undefined);
        throw error;
      }
      known.set(file, { id, file, bytes: size });
      return lines.length;
    },

    async read(segment) {
      const text = await readFile(segment.file, 'utf8');
      const rows: AuditEntry[] = [];
      let unreadable = 0;
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const row = parseRow(line);
        if (row === undefined) unreadable++;
        else rows.push(row);
      }
      return { rows, unreadable };
    },

    async remove(segment) {
      await unlink(segment.file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      if (known.delete(segment.file)) bytes -= segment.bytes;
    },
  };
}

/** Makes a rename durable (Linux: fsync on the directory). Best effort: not every platform allows it. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // EISDIR/EPERM on platforms without directory fsync; the rename itself is still atomic.
  }
}

const SOURCES = new Set(['store', 'inline', 'fallback']);
const textOrNull = (value: unknown): value is string | null => value === null || typeof value === 'string';
const isOutputValue = (value: unknown): value is AuditOutputValue =>
  value === null || ['number', 'boolean', 'string'].includes(typeof value);

/**
 * One NDJSON line back into an entry; undefined when it is not one. A line without `method` is a Score
 * row: what every segment written before ModelInfer was audited holds.
 */
function parseRow(line: string): AuditEntry | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const predictedAt = new Date(typeof value.predictedAt === 'string' ? value.predictedAt : NaN);
  if (
    Number.isNaN(predictedAt.getTime()) ||
    typeof value.requestId !== 'string' ||
    typeof value.model !== 'string' ||
    typeof value.modelVersion !== 'string' ||
    !textOrNull(value.principal) ||
    !textOrNull(value.traceId) ||
    !textOrNull(value.spanId)
  ) {
    return undefined;
  }
  const call = {
    predictedAt,
    requestId: value.requestId,
    principal: value.principal,
    model: value.model,
    modelVersion: value.modelVersion,
    traceId: value.traceId,
    spanId: value.spanId,
  };
  if (value.method === 'ModelInfer') {
    const outputs = parseOutputs(value.outputs);
    if (
      value.customerId !== null ||
      typeof value.rowIndex !== 'number' ||
      !Number.isInteger(value.rowIndex) ||
      value.rowIndex < 0 ||
      (value.score !== null && typeof value.score !== 'number') ||
      value.featureSource !== 'inline' ||
      outputs === undefined
    ) {
      return undefined;
    }
    return {
      ...call,
      method: 'ModelInfer',
      customerId: null,
      rowIndex: value.rowIndex,
      score: value.score,
      featureSource: 'inline',
      outputs,
    };
  }
  if (
    (value.method !== undefined && value.method !== 'Score') ||
    typeof value.customerId !== 'string' ||
    typeof value.score !== 'number' ||
    typeof value.featureSource !== 'string' ||
    !SOURCES.has(value.featureSource)
  ) {
    return undefined;
  }
  return {
    ...call,
    ...(value.method === 'Score' ? { method: 'Score' as const } : {}),
    customerId: value.customerId,
    score: value.score,
    featureSource: value.featureSource as ScoreAuditEntry['featureSource'],
  };
}

/** A ModelInfer row's outputs: arrays of output values by name; undefined when it is not that. */
function parseOutputs(value: unknown): ModelInferAuditEntry['outputs'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const values of Object.values(value)) {
    if (!Array.isArray(values) || !values.every(isOutputValue)) return undefined;
  }
  return value as ModelInferAuditEntry['outputs'];
}

import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { withTransaction } from '../../../server/src/db/transaction.js';
import type { ShardKey } from './batch-run-store.js';
import { advanceCheckpoint, type ShardProgress } from './shard-checkpoint.js';

/** One customer's prediction, as the server returned it. */
export interface PredictionRow {
  readonly customerId: string;
  readonly modelVersion: string;
  readonly score: number;
  /** Stored as JSON as they are: `{feature, contribution, value}` objects, largest |contribution| first. */
  readonly reasonCodes: ReadonlyArray<{ feature: string; contribution: number; value: number }>;
}

/** One customer the server could not score (a per-item error that retrying will not fix). */
export interface ItemFailure {
  readonly customerId: string;
  /** gRPC status code number. */
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

/** The outcome of one chunk of consecutive customers, ready to commit. */
export interface ScoredChunk {
  /** The last customer id of the chunk (key order): the checkpoint once the chunk is committed. */
  readonly lastCustomerId: string;
  readonly predictions: readonly PredictionRow[];
  readonly failures: readonly ItemFailure[];
  /** When the server's answer arrived; stored as `scored_at`. */
  readonly receivedAt: Date;
}

/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = '23505';

/** Thrown when a commit would have written a customer that the run already has: a broken invariant. */
export class DuplicatePredictionError extends Error {
  override readonly name = 'DuplicatePredictionError';
}

/** Where one shard of a run writes. */
export interface PredictionTarget extends ShardKey {
  /** The run's date (`YYYY-MM-DD`), the partition key. */
  readonly runDate: string;
  /** The `batch_predictions` partition of that date (see `ensurePredictionPartition`). */
  readonly partition: string;
}

/** A commit under way (see {@link PredictionWriter.commit}). */
export interface PendingCommit {
  /**
   * Settles once the transaction has moved the checkpoint (it then holds the shard row's lock until it
   * ends), or rejects if it failed before. The next commit waits for it before it locks the row, so that
   * it queues behind this one on the lock instead of getting there first.
   */
  readonly checkpointMoved: Promise<void>;
  /** The shard's progress once committed; rejects when nothing was committed. */
  readonly committed: Promise<ShardProgress>;
}

/**
 * Writes the outcomes of one shard of a run to `batch_predictions` / `batch_item_errors` and moves the
 * shard's checkpoint, all in one transaction per commit.
 *
 * Exactly once, the argument:
 * 1. A shard reads its customers in key order and {@link commit} is only ever given the chunks of a
 *    contiguous range that starts right after the previous commit's (the stream runner holds back chunks
 *    answered out of order). Each commit's transaction writes the outcomes of exactly its range and moves
 *    the checkpoint from the range's start to its end.
 * 2. The rows and the checkpoint are in the same transaction: a crash (SIGKILL, a lost connection) leaves
 *    either both or neither.
 * 3. The checkpoint moves by compare-and-set ({@link advanceCheckpoint}): a transaction commits only if
 *    the checkpoint is at its range's start, under the row lock. So committed ranges chain without gap or
 *    overlap: every customer of the shard up to the checkpoint has exactly one outcome row and none after
 *    it has one. A restarted shard reads the checkpoint and the customers after it. A second process on the
 *    same shard, or a commit whose predecessor rolled back, fails instead of writing.
 * 4. The primary key (run_id, model, customer_id, run_date) is the last line of defence: the run's date is
 *    fixed at its creation, so a rewritten row would hit the same partition and key, and the whole commit
 *    fails ({@link DuplicatePredictionError}) rather than store a second row.
 *
 * Two commits may run at once, on two connections: the next one COPYs its rows while the previous one is
 * still committing, and moves the checkpoint only after the previous one has (`after`), waiting on the row
 * lock until that one ends. Commits therefore land strictly in order, and one that follows a failed commit
 * fails too (its compare-and-set finds the old checkpoint).
 *
 * Predictions are COPYed straight into the run's partition. Because of 1-3 no commit ever meets an
 * existing row, so staging the rows and upserting with ON CONFLICT would buy nothing but cost: measured on
 * 100,000 rows in transactions of 2,700, staging + INSERT … ON CONFLICT DO NOTHING wrote 30k rows/s, a COPY
 * into the parent 41k rows/s and a COPY into the partition (no per-row routing) 50k rows/s.
 */
export class PredictionWriter {
  constructor(
    private readonly pool: pg.Pool,
    private readonly target: PredictionTarget,
  ) {}

  /**
   * Starts committing `chunks` (consecutive, in key order, starting right after `expected.checkpoint`):
   * writes their rows, then — once `after` has settled — moves the checkpoint from `expected` to the last
   * chunk's last customer, and commits.
   *
   * @param after The previous commit's {@link PendingCommit.checkpointMoved}. @default already settled
   * @returns the commit under way. `committed` rejects with CheckpointConflictError when the checkpoint was
   *   not `expected`, DuplicatePredictionError when a customer already had an outcome in the run, the
   *   rejection of `after`, or a Postgres error; nothing is committed then.
   */
  commit(expected: ShardProgress, chunks: readonly ScoredChunk[], after?: Promise<void>): PendingCommit {
    let moved!: () => void;
    let failed!: (error: unknown) => void;
    const checkpointMoved = new Promise<void>((resolve, reject) => {
      moved = resolve;
      failed = reject;
    });
    checkpointMoved.catch(() => undefined); // observed by the next commit, if there is one
    const committed = this.write(expected, chunks, after, moved);
    committed.catch(failed); // no effect once the checkpoint has moved
    return { checkpointMoved, committed };
  }

  private async write(
    expected: ShardProgress,
    chunks: readonly ScoredChunk[],
    after: Promise<void> | undefined,
    checkpointMoved: () => void,
  ): Promise<ShardProgress> {
    const last = chunks.at(-1);
    if (last === undefined) {
      await after;
      checkpointMoved();
      return expected;
    }
    const predictions = chunks.flatMap((chunk) =>
      chunk.predictions.map((row) => ({ row, at: chunk.receivedAt })),
    );
    const failures = chunks.flatMap((chunk) => chunk.failures.map((row) => ({ row, at: chunk.receivedAt })));
    const added = { scored: predictions.length, failed: failures.length };
    try {
      await withTransaction(this.pool, async (client) => {
        if (predictions.length > 0) await this.copyPredictions(client, predictions);
        if (failures.length > 0) await this.insertFailures(client, failures);
        await after;
        await advanceCheckpoint(client, this.target, expected.checkpoint, last.lastCustomerId, added);
        checkpointMoved();
      });
    } catch (error) {
      throw (error as { code?: unknown }).code === UNIQUE_VIOLATION
        ? this.duplicate(last.lastCustomerId, error)
        : error;
    }
    return {
      checkpoint: last.lastCustomerId,
      scored: expected.scored + added.scored,
      failed: expected.failed + added.failed,
    };
  }

  private duplicate(upTo: string, cause?: unknown): DuplicatePredictionError {
    return new DuplicatePredictionError(
      `run ${this.target.runId} (${this.target.model}) already has an outcome for a customer up to ${upTo}; ` +
        'nothing was committed',
      { cause },
    );
  }

  private async copyPredictions(
    client: pg.PoolClient,
    rows: ReadonlyArray<{ row: PredictionRow; at: Date }>,
  ): Promise<void> {
    const { runDate, runId, model } = this.target;
    const prefix = `${runDate}\t${copyText(runId)}\t${copyText(model)}\t`;
    let text = '';
    let lastAt: Date | undefined;
    let at = '';
    for (const { row, at: receivedAt } of rows) {
      if (receivedAt !== lastAt) {
        lastAt = receivedAt;
        at = receivedAt.toISOString();
      }
      const reasons = JSON.stringify(row.reasonCodes);
      text += `${prefix}${copyText(row.customerId)}\t${copyText(row.modelVersion)}\t${row.score}\t${copyText(reasons)}\t${at}\n`;
    }
    const columns = 'run_date, run_id, model, customer_id, model_version, score, reason_codes, scored_at';
    await pipeline(
      Readable.from([text]),
      client.query(
        copyFrom(`COPY ${client.escapeIdentifier(this.target.partition)} (${columns}) FROM STDIN`),
      ),
    );
  }

  private async insertFailures(
    client: pg.PoolClient,
    rows: ReadonlyArray<{ row: ItemFailure; at: Date }>,
  ): Promise<void> {
    await client.query(
      `INSERT INTO batch_item_errors (run_id, model, customer_id, run_date, code, reason, message, failed_at)
       SELECT $1, $2, customer_id, $3::date, code, reason, message, failed_at
       FROM unnest($4::text[], $5::int[], $6::text[], $7::text[], $8::timestamptz[])
         AS t(customer_id, code, reason, message, failed_at)`,
      [
        this.target.runId,
        this.target.model,
        this.target.runDate,
        rows.map(({ row }) => row.customerId),
        rows.map(({ row }) => row.code),
        rows.map(({ row }) => row.reason),
        rows.map(({ row }) => row.message),
        rows.map(({ at }) => at),
      ],
    );
  }
}

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!)
    : value;
}

import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { ScoreStreamRequest, ScoringClient } from '../../../client/src/scoring-client.js';
import type { Logger } from '../../../server/src/telemetry/logger.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import type { ShardKey } from './batch-run-store.js';
import { readCustomerIdChunks, type Shard } from './customer-id-reader.js';
import { InFlightWindow } from './in-flight-window.js';
import type { PredictionWriter, ScoredChunk } from './prediction-writer.js';
import type { ProgressReporter } from './progress-reporter.js';
import { isRetryable, RetryableError } from './retry-policy.js';
import { ChunkRejectedError, toScoredChunk } from './score-response.js';
import { readShardProgress, type ShardProgress } from './shard-checkpoint.js';

/**
 * Commit transactions in flight at once. With two, the next one COPYs its rows while the previous one
 * waits for its round trips and its WAL flush. Measured with `npm run bench:batch` (1,000,000 customers, on
 * 2 cores shared by server, client and Postgres, so CPU-bound): 31.8k customers/s with one, 32.1k-34.8k/s
 * with two; at 100,000, three were no better than two. The overlap matters more with a remote database.
 */
const COMMITS_IN_FLIGHT = 2;

/** What to stream and how hard. */
export interface StreamRunnerOptions {
  readonly model: string;
  /** The run's model version, pinned on every chunk. */
  readonly modelVersion: string;
  readonly shard: Shard;
  /** Customers per chunk. */
  readonly chunkSize: number;
  /** Chunks sent but not yet committed, at most. */
  readonly chunksInFlight: number;
  readonly reasonCodes: number;
  /** Give up when reconnecting has committed nothing for this long, in ms. */
  readonly reconnectTimeoutMs: number;
  /** Delays between attempts. @default {@link backoffDelayMs}'s defaults (200 ms doubling to 5 s, full jitter) */
  readonly backoff?: BackoffOptions;
}

/** The resources the runner works with. */
export interface StreamRunnerDeps {
  readonly client: ScoringClient;
  readonly pool: pg.Pool;
  readonly writer: PredictionWriter;
  readonly shardKey: ShardKey;
  readonly logger: Logger;
  readonly progress?: ProgressReporter;
  /** Aborts the run (SIGTERM): the current commit finishes, nothing else is sent. */
  readonly signal: AbortSignal;
}

/** How a shard's run ended. */
export interface ShardOutcome extends ShardProgress {
  /** Streams opened after the first one. */
  readonly reconnects: number;
}

/**
 * Streams a shard's customers through ScoreStream and commits the answers, reconnecting until done.
 *
 * Each attempt reads the committed checkpoint from Postgres and streams the customers after it:
 * - at most `chunksInFlight` chunks are between "sent" and "committed" ({@link InFlightWindow}); beyond
 *   that the sender waits, so a slow database slows the stream through HTTP/2 flow control instead of
 *   filling memory, and a slow server does the same to the id reader;
 * - answers arrive in any order; the contiguous prefix of answered chunks is committed in one transaction
 *   with the checkpoint (group commit: what becomes ready while commits run goes into the next), with up
 *   to two such transactions under way so that writing overlaps committing;
 * - when the stream fails with a retryable status (the server draining or restarting, a connection cut,
 *   a transient per-item error), what is contiguous is committed, and a new stream starts after a
 *   jittered exponential backoff, from the checkpoint. Chunks that were in flight are simply sent again:
 *   none of them was committed. See `PredictionWriter` for why this is exactly once.
 *
 * @throws the last error when it is not retryable (a rejected chunk, a checkpoint conflict, ...) or when
 *   `reconnectTimeoutMs` passed without a commit; the abort reason when `deps.signal` aborts.
 */
export async function runShardStream(
  deps: StreamRunnerDeps,
  options: StreamRunnerOptions,
): Promise<ShardOutcome> {
  let reconnects = 0;
  let failuresSinceProgress = 0;
  let lastProgressAt = performance.now();
  const onCommit = (progress: ShardProgress) => {
    failuresSinceProgress = 0;
    lastProgressAt = performance.now();
    deps.progress?.update({ done: progress.scored + progress.failed, failed: progress.failed });
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const start = await readShardProgress(deps.pool, deps.shardKey);
      const end = await streamOnce(deps, options, start, attempt, onCommit);
      return { ...end, reconnects };
    } catch (error) {
      if (deps.signal.aborted) throw deps.signal.reason ?? error;
      if (!isRetryable(error)) throw error;
      const stalledMs = performance.now() - lastProgressAt;
      if (stalledMs >= options.reconnectTimeoutMs) {
        throw new Error(
          `gave up: no progress for ${Math.round(stalledMs)} ms (--reconnect-timeout-ms ${options.reconnectTimeoutMs}); last error: ${describe(error)}`,
          { cause: error },
        );
      }
      const delayMs = backoffDelayMs(failuresSinceProgress++, options.backoff);
      deps.logger.warn(
        { err: describe(error), attempt: attempt + 1, retryInMs: delayMs },
        'score stream interrupted; resuming from the checkpoint',
      );
      await sleep(delayMs, undefined, { signal: deps.signal }).catch(() => {
        throw deps.signal.reason ?? error;
      });
      reconnects++;
    }
  }
}

/** One ScoreStream call, from the checkpoint `start` until the shard is done or the stream fails. */
async function streamOnce(
  deps: StreamRunnerDeps,
  options: StreamRunnerOptions,
  start: ShardProgress,
  attempt: number,
  onCommit: (progress: ShardProgress) => void,
): Promise<ShardProgress> {
  const controller = new AbortController();
  const signal = AbortSignal.any([deps.signal, controller.signal]);
  const window = new InFlightWindow<ScoredChunk>(options.chunksInFlight);
  const sent = new Map<string, { seq: number; ids: string[] }>();
  let inputDone = false;

  let committed = start;
  let writeFailure: Error | undefined;
  // The commit pipeline: up to COMMITS_IN_FLIGHT transactions, each taking the chunks ready when it
  // starts. `tail` is where the last one started will leave the checkpoint; `settled` resolves once every
  // commit started so far has been accounted for, in order.
  let tail = { progress: start, checkpointMoved: Promise.resolve() };
  let committing = 0;
  let settled: Promise<void> = Promise.resolve();
  const kick = () => {
    while (committing < COMMITS_IN_FLIGHT && window.hasReady && writeFailure === undefined) {
      const chunks = window.takeReady();
      const expected = tail.progress;
      const pending = deps.writer.commit(expected, chunks, tail.checkpointMoved);
      const outcome = pending.committed.then(
        (progress) => ({ progress }),
        (error: unknown) => ({ error }),
      );
      tail = {
        progress: {
          checkpoint: chunks.at(-1)!.lastCustomerId,
          scored: expected.scored + chunks.reduce((sum, chunk) => sum + chunk.predictions.length, 0),
          failed: expected.failed + chunks.reduce((sum, chunk) => sum + chunk.failures.length, 0),
        },
        checkpointMoved: pending.checkpointMoved,
      };
      committing++;
      const previous = settled;
      settled = (async () => {
        const result = await outcome;
        await previous; // account for commits in the order they landed
        committing--;
        if ('error' in result) {
          // The first failure is the cause; a later commit fails because of it (its predecessor rolled back).
          if (writeFailure === undefined) {
            writeFailure = result.error instanceof Error ? result.error : new Error(String(result.error));
            controller.abort(writeFailure);
          }
        } else if (writeFailure === undefined) {
          committed = result.progress;
          window.release(chunks.length);
          onCommit(committed);
        }
        kick();
      })();
    }
  };
  /** Waits until nothing is being committed and nothing committable is left. */
  const drain = async () => {
    while (committing > 0 || (writeFailure === undefined && window.hasReady)) {
      kick();
      await settled;
    }
  };

  const { model, modelVersion, reasonCodes } = options;
  async function* requests(): AsyncGenerator<ScoreStreamRequest> {
    const chunks = readCustomerIdChunks(deps.pool, {
      shard: options.shard,
      after: start.checkpoint,
      chunkSize: options.chunkSize,
      signal,
    });
    for await (const ids of chunks) {
      const seq = await window.acquire(signal);
      if (seq === undefined) return;
      const chunkId = `${attempt}.${seq}`;
      sent.set(chunkId, { seq, ids });
      yield {
        chunkId,
        model,
        modelVersion,
        customers: ids.map((customerId) => ({ customerId, features: {} })),
        reasonCodes,
      };
    }
    inputDone = true;
  }

  deps.logger.debug({ attempt, resumeAfter: start.checkpoint }, 'score stream opened');
  try {
    for await (const response of deps.client.scoreStream(requests(), { signal })) {
      const chunk = sent.get(response.chunkId);
      if (chunk === undefined) throw new ChunkRejectedError(`answer for unknown chunk ${response.chunkId}`);
      sent.delete(response.chunkId);
      window.complete(chunk.seq, toScoredChunk(chunk.ids, response, new Date()));
      kick();
    }
    if (!inputDone || sent.size > 0) {
      throw new RetryableError(`the server ended the stream with ${sent.size} chunks unanswered`);
    }
    await drain();
    if (writeFailure !== undefined) throw writeFailure;
    return committed;
  } catch (error) {
    throw writeFailure ?? error;
  } finally {
    controller.abort();
    // Whatever is contiguous still gets committed, and the next attempt must read a settled checkpoint.
    await drain();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

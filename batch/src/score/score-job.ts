import type pg from 'pg';
import type { ScoringClient } from '../../../client/src/scoring-client.js';
import type { Logger } from '../../../server/src/telemetry/logger.js';
import type { BackoffOptions } from './backoff.js';
import { beginShard, findRun, finishShard, type RunStatus } from './batch-run-store.js';
import { countShardCustomers } from './customer-id-reader.js';
import { DuplicatePredictionError, PredictionWriter } from './prediction-writer.js';
import type { ProgressReporter } from './progress-reporter.js';
import { resolveModelVersion } from './resolve-model-version.js';
import type { ScoreOptions } from './score-options.js';
import { CheckpointConflictError } from './shard-checkpoint.js';
import { runShardStream } from './stream-runner.js';

/** The resources a score job uses; the caller creates and closes them. */
export interface ScoreJobDeps {
  readonly pool: pg.Pool;
  readonly client: ScoringClient;
  readonly logger: Logger;
  /** Aborts the job (SIGTERM/SIGINT); committed work stays and a rerun resumes. */
  readonly signal: AbortSignal;
  /** Creates the progress display once the shard's size is known. @default none */
  readonly progress?: (shard: { total: number; initialDone: number; label: string }) => ProgressReporter;
  /** Reconnect delays. @default see `backoffDelayMs` */
  readonly backoff?: BackoffOptions;
}

/** What a score job did. */
export interface ScoreJobSummary {
  readonly runId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly shardIndex: number;
  readonly shardCount: number;
  /** Customers in the shard when the job started. */
  readonly total: number;
  /** Customers of the shard with a committed prediction (earlier attempts included). */
  readonly scored: number;
  /** Customers of the shard that could not be scored (earlier attempts included). */
  readonly failed: number;
  /** Customers this process committed. */
  readonly committedNow: number;
  readonly reconnects: number;
  /** The shard had already succeeded: nothing was done. */
  readonly alreadyDone: boolean;
  /** The whole run's status after this shard (`running` while other shards are unfinished). */
  readonly runStatus: RunStatus;
  readonly seconds: number;
}

/**
 * Runs one shard of a scoring run: resolves the model version (the run's, or the server's default for a
 * new run), registers the shard in `batch_runs`/`batch_run_shards`, streams its remaining customers
 * through the server ({@link runShardStream}) and records how it finished. A shard that already succeeded
 * is left alone.
 *
 * @throws ServerUnreachableError, ModelNotServedError, UsageError (run conflicts), and whatever ended the
 *   stream for good; the shard is then marked `failed` — unless the job was aborted or killed (it stays
 *   `running`), or another process was found working on the same shard (CheckpointConflictError,
 *   DuplicatePredictionError: the shard is that process's). A rerun resumes in every case.
 */
export async function runScoreJob(
  deps: ScoreJobDeps,
  options: Omit<ScoreOptions, 'address' | 'connectTimeoutMs' | 'progressIntervalMs'> &
    Partial<Pick<ScoreOptions, 'address' | 'connectTimeoutMs'>>,
): Promise<ScoreJobSummary> {
  const started = performance.now();
  const { pool, client, logger } = deps;
  const key = { runId: options.runId, model: options.model, shardIndex: options.shardIndex };
  const existing = await findRun(pool, key);
  const modelVersion = await resolveModelVersion(
    client,
    {
      address: options.address ?? 'the configured address',
      model: options.model,
      version: options.modelVersion ?? existing?.modelVersion,
    },
    { timeoutMs: options.connectTimeoutMs ?? 10_000, signal: deps.signal },
  );
  const { run, shard, partition } = await beginShard(pool, {
    ...key,
    shardCount: options.shardCount,
    modelVersion,
    pinnedVersion: options.modelVersion,
  });
  const log = logger.child({ runId: run.runId, model: run.model, shard: options.shardIndex });
  const summary = (
    fields: Partial<ScoreJobSummary> & Pick<ScoreJobSummary, 'runStatus'>,
  ): ScoreJobSummary => ({
    runId: run.runId,
    model: run.model,
    modelVersion: run.modelVersion,
    shardIndex: options.shardIndex,
    shardCount: run.shardCount,
    total: shard.customersScored + shard.customersFailed,
    scored: shard.customersScored,
    failed: shard.customersFailed,
    committedNow: 0,
    reconnects: 0,
    alreadyDone: false,
    seconds: (performance.now() - started) / 1000,
    ...fields,
  });
  if (shard.status === 'succeeded') {
    log.info('shard already succeeded; nothing to do');
    return summary({ alreadyDone: true, runStatus: run.status });
  }

  const total = await countShardCustomers(pool, { index: options.shardIndex, count: options.shardCount });
  const initialDone = shard.customersScored + shard.customersFailed;
  log.info(
    {
      modelVersion: run.modelVersion,
      shardCount: run.shardCount,
      total,
      resumeAfter: shard.checkpoint,
      alreadyDone: initialDone,
      attempt: shard.attempts,
    },
    shard.checkpoint === null ? 'scoring shard' : 'resuming shard from its checkpoint',
  );
  const progress = deps.progress?.({
    total,
    initialDone,
    label: `${run.model}@${run.modelVersion} ${run.runId} shard ${options.shardIndex}/${run.shardCount}`,
  });
  const writer = new PredictionWriter(pool, { ...key, runDate: run.runDate, partition });
  try {
    const outcome = await runShardStream(
      {
        client,
        pool,
        writer,
        shardKey: key,
        logger: log,
        signal: deps.signal,
        ...(progress && { progress }),
      },
      {
        model: run.model,
        modelVersion: run.modelVersion,
        shard: { index: options.shardIndex, count: run.shardCount },
        chunkSize: options.chunkSize,
        chunksInFlight: options.chunksInFlight,
        reasonCodes: options.reasonCodes,
        reconnectTimeoutMs: options.reconnectTimeoutMs,
        ...(deps.backoff && { backoff: deps.backoff }),
      },
    );
    progress?.finish();
    const finished = await finishShard(pool, key, outcome.failed > 0);
    const result = summary({
      total: Math.max(total, outcome.scored + outcome.failed),
      scored: outcome.scored,
      failed: outcome.failed,
      committedNow: outcome.scored + outcome.failed - initialDone,
      reconnects: outcome.reconnects,
      runStatus: finished.status,
    });
    const { scored, failed, committedNow, reconnects, runStatus } = result;
    log.info(
      { scored, failed, committedNow, reconnects, runStatus, seconds: Number(result.seconds.toFixed(3)) },
      'shard finished',
    );
    return result;
  } catch (error) {
    progress?.finish();
    // A conflict means another process owns the shard right now: its status is that process's to set.
    const lostShard = error instanceof CheckpointConflictError || error instanceof DuplicatePredictionError;
    if (!deps.signal.aborted && !lostShard) {
      await finishShard(pool, key, true).catch((markError: unknown) =>
        log.warn({ err: markError }, 'could not mark the shard failed'),
      );
    }
    throw error;
  }
}

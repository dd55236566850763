/**
 * `npm run batch:score -- --model churn`: scores one shard of a batch run through the scoring server and
 * writes the predictions to Postgres (see {@link SCORE_USAGE}). Kubernetes runs it as a CronJob or an
 * Indexed Job (one pod per shard, JOB_COMPLETION_INDEX = shard index).
 */
import { ClientError, Status } from 'nice-grpc';
import { createScoringClient } from '../../../client/src/scoring-client.js';
import { ConfigError } from '../../../server/src/config/config.js';
import { closePool, createPool } from '../../../server/src/db/pool.js';
import { createLogger } from '../../../server/src/telemetry/logger.js';
import { USAGE_EXIT_CODE, UsageError } from '../../../client/src/cli/usage-error.js';
import { loadBatchEnvironment } from '../cli/batch-environment.js';
import { credentialsToReach } from '../../../client/src/cli/server-credentials.js';
import { openBatchDatabase } from '../db/batch-database.js';
import { createProgressReporter } from './progress-reporter.js';
import { ModelNotServedError, ServerUnreachableError } from './resolve-model-version.js';
import { parseScoreArgs, SCORE_USAGE, type ScoreOptions } from './score-options.js';
import { runScoreJob } from './score-job.js';

const SIGNAL_EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

async function main(): Promise<number> {
  let options: ScoreOptions | undefined;
  let config;
  let credentials;
  try {
    options = parseScoreArgs(process.argv.slice(2), process.env);
    if (options === undefined) {
      console.log(SCORE_USAGE);
      return 0;
    }
    config = loadBatchEnvironment(process.env);
    credentials = await credentialsToReach(options.address, process.env, 'SCORING');
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`score: ${error.message}\n\n${error instanceof UsageError ? SCORE_USAGE : ''}`.trimEnd());
      return USAGE_EXIT_CODE;
    }
    throw error;
  }

  const logger = createLogger({ level: config.logLevel });
  const abort = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stoppedBy ??= signal;
    logger.warn({ signal }, 'stopping: committed predictions stay; rerun with the same --run-id to resume');
    abort.abort(new Error(`stopped by ${signal}`));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  let database;
  try {
    database = await openBatchDatabase(config, logger);
  } catch (error) {
    console.error(
      `score: cannot open the database: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
  const pool = createPool({
    connectionString: database.url,
    max: 3,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    applicationName: `ci-batch-score-${options.shardIndex}`,
    logger,
  });
  // The runner reconnects itself (from its checkpoint); gRPC-level retries would only replay chunks.
  const client = createScoringClient(options.address, {
    ...credentials.clientOptions,
    retry: false,
    deadlineMs: 10_000,
    channelOptions: {
      ...credentials.clientOptions.channelOptions, // SCORING_TLS_SERVER_NAME's override, when set
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
    },
  });
  const { progressIntervalMs } = options;
  try {
    const summary = await runScoreJob(
      {
        pool,
        client,
        logger,
        signal: abort.signal,
        progress: ({ total, initialDone, label }) =>
          createProgressReporter({ label, total, initialDone, logger, intervalMs: progressIntervalMs }),
      },
      options,
    );
    const verb = summary.alreadyDone ? 'had already scored' : 'scored';
    console.error(
      `${summary.model}@${summary.modelVersion} run ${summary.runId} shard ${summary.shardIndex}/${summary.shardCount}: ` +
        `${verb} ${summary.scored} customers, ${summary.failed} failed` +
        (summary.alreadyDone
          ? ''
          : ` (${summary.committedNow} in this process, ${summary.seconds.toFixed(1)} s, ${summary.reconnects} reconnects)`) +
        `; run ${summary.runStatus}`,
    );
    if (summary.failed > 0) {
      console.error(`score: ${summary.failed} customers could not be scored; see batch_item_errors`);
      return 1;
    }
    return 0;
  } catch (error) {
    if (stoppedBy !== undefined) {
      console.error(`score: stopped by ${stoppedBy}; rerun with --run-id ${options.runId} to resume`);
      return SIGNAL_EXIT_CODES[stoppedBy] ?? 1;
    }
    if (error instanceof UsageError) {
      console.error(`score: ${error.message}`);
      return USAGE_EXIT_CODE;
    }
    if (error instanceof ServerUnreachableError || error instanceof ModelNotServedError) {
      console.error(`score: ${error.message}`);
      return 1;
    }
    if (error instanceof ClientError) {
      console.error(`score: the scoring server answered ${Status[error.code]}: ${error.details}`);
      return 1;
    }
    logger.error({ err: error }, 'score run failed');
    console.error(`score: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    client.close();
    await closePool(pool);
    await database.close();
  }
}

process.exitCode = await main();

import { parseArgs } from 'node:util';
import { integerFlag } from '../cli/integer-flag.js';
import { toUsageError, UsageError } from '../../../client/src/cli/usage-error.js';

/** What one `score` process does: one shard of one run of one model. */
export interface ScoreOptions {
  /** `--model`: the model to score with, e.g. `churn`. Required. */
  readonly model: string;
  /**
   * `--model-version`: pin a version. Unset: the version the run was started with, or for a new run the
   * server's default version at that moment (every shard and restart of the run then uses it).
   */
  readonly modelVersion: string | undefined;
  /**
   * `--run-id` (env `BATCH_RUN_ID`): identifies the run across shards and restarts; rerunning with the same
   * id resumes. @default `<model>-<UTC date>`, e.g. `churn-2026-11-29` (one run per model and day)
   */
  readonly runId: string;
  /** `--shard-index` (env `JOB_COMPLETION_INDEX`, set by Kubernetes Indexed Jobs). @default 0 */
  readonly shardIndex: number;
  /** `--shard-count` (env `BATCH_SHARD_COUNT`): shards the customers are split into. @default 1 */
  readonly shardCount: number;
  /** `--address` (env `SCORING_ADDRESS`): the scoring server. @default "localhost:50051" */
  readonly address: string;
  /** `--chunk-size`: customers per ScoreStream chunk; at most the server's MAX_CUSTOMERS_PER_REQUEST. @default 1000 */
  readonly chunkSize: number;
  /** `--chunks-in-flight`: chunks sent but not yet committed to Postgres. @default 8 */
  readonly chunksInFlight: number;
  /** `--reason-codes`: reason codes stored per prediction. @default 3 */
  readonly reasonCodes: number;
  /** `--connect-timeout-ms`: how long start-up tries to reach the server before giving up. @default 10000 */
  readonly connectTimeoutMs: number;
  /** `--reconnect-timeout-ms`: give up when reconnecting has made no progress for this long. @default 120000 */
  readonly reconnectTimeoutMs: number;
  /** `--progress-interval-ms`: interval of progress log lines when stderr is not a terminal. @default 10000 */
  readonly progressIntervalMs: number;
}

/** The usage text of `npm run batch:score`. */
export const SCORE_USAGE = `Usage: npm run batch:score -- --model <name> [options]

Scores every customer of the feature store (or one shard of them) with a model through the scoring
server's ScoreStream and writes the predictions to Postgres (batch_predictions), resumably: rerun with
the same --run-id after a crash and the shard continues where it stopped; no customer is scored twice.

Options:
  --model <name>              model to score with, e.g. churn or clv (required)
  --model-version <v>         pin a version (default: the run's version, or the server's default)
  --run-id <id>               run identifier (default: $BATCH_RUN_ID or <model>-<UTC date>)
  --shard-index <i>           this shard, 0-based (default: $JOB_COMPLETION_INDEX or 0)
  --shard-count <n>           number of shards (default: $BATCH_SHARD_COUNT or 1)
  --address <host:port>       scoring server (default: $SCORING_ADDRESS or localhost:50051)
  --chunk-size <n>            customers per stream chunk (default: 1000)
  --chunks-in-flight <n>      chunks sent but not yet written (default: 8)
  --reason-codes <k>          reason codes stored per prediction (default: 3)
  --connect-timeout-ms <ms>   time to reach the server at start (default: 10000)
  --reconnect-timeout-ms <ms> give up after this long without progress while reconnecting (default: 120000)
  --progress-interval-ms <ms> progress log interval when not on a terminal (default: 10000)
  -h, --help                  show this help

Database: DATABASE_URL, or the embedded quick-start Postgres when unset.
Server credentials (environment only; the key or token needs the batch role): SCORING_API_KEY(_FILE)
or SCORING_BEARER_TOKEN(_FILE); SCORING_TLS (plaintext|tls), SCORING_TLS_CA_FILE, and
SCORING_TLS_CERT_FILE + SCORING_TLS_KEY_FILE for mTLS.
Exit status: 0 every customer scored; 1 some customers failed or the run failed; 2 bad arguments;
130/143 interrupted (SIGINT/SIGTERM; rerun to resume).`;

const RUN_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Parses the `score` command line with environment fallbacks.
 *
 * @returns `undefined` when `--help` was asked for.
 * @throws UsageError naming the flag (or the variable) at fault, e.g. `--shard-index: must be below
 *   --shard-count (2), got 2`.
 */
export function parseScoreArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  now: Date = new Date(),
): ScoreOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        model: { type: 'string' },
        'model-version': { type: 'string' },
        'run-id': { type: 'string' },
        'shard-index': { type: 'string' },
        'shard-count': { type: 'string' },
        address: { type: 'string' },
        'chunk-size': { type: 'string' },
        'chunks-in-flight': { type: 'string' },
        'reason-codes': { type: 'string' },
        'connect-timeout-ms': { type: 'string' },
        'reconnect-timeout-ms': { type: 'string' },
        'progress-interval-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw toUsageError(error);
  }
  if (values.help) return undefined;

  const model = values.model;
  if (model === undefined || !/^[a-z][a-z0-9_-]{0,62}$/.test(model)) {
    throw new UsageError(
      `--model: ${model === undefined ? 'required' : `not a model name, got ${JSON.stringify(model)}`}`,
    );
  }
  const shardCount = integerFlag(
    values['shard-count'],
    { flag: '--shard-count', env: 'BATCH_SHARD_COUNT' },
    { min: 1, max: 10_000 },
    env,
    1,
  );
  const shardIndex = integerFlag(
    values['shard-index'],
    { flag: '--shard-index', env: 'JOB_COMPLETION_INDEX' },
    { min: 0, max: 9_999 },
    env,
    0,
  );
  if (shardIndex >= shardCount) {
    const where =
      values['shard-index'] === undefined
        ? 'JOB_COMPLETION_INDEX (the default of --shard-index)'
        : '--shard-index';
    throw new UsageError(`${where}: must be below --shard-count (${shardCount}), got ${shardIndex}`);
  }
  const runId = values['run-id'] ?? (env.BATCH_RUN_ID || `${model}-${now.toISOString().slice(0, 10)}`);
  if (!RUN_ID.test(runId)) {
    const where = values['run-id'] === undefined ? 'BATCH_RUN_ID (the default of --run-id)' : '--run-id';
    throw new UsageError(`${where}: expected 1-128 of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(runId)}`);
  }
  const modelVersion = values['model-version'];
  if (modelVersion !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(modelVersion)) {
    throw new UsageError(`--model-version: not a version, got ${JSON.stringify(modelVersion)}`);
  }
  const address = values.address ?? (env.SCORING_ADDRESS || 'localhost:50051');
  type NumberFlag =
    | 'chunk-size'
    | 'chunks-in-flight'
    | 'reason-codes'
    | 'connect-timeout-ms'
    | 'reconnect-timeout-ms'
    | 'progress-interval-ms';
  const number = (flag: NumberFlag, min: number, max: number, fallback: number) =>
    integerFlag(values[flag], { flag: `--${flag}` }, { min, max }, env, fallback);
  return {
    model,
    modelVersion,
    runId,
    shardIndex,
    shardCount,
    address,
    chunkSize: number('chunk-size', 1, 100_000, 1_000),
    chunksInFlight: number('chunks-in-flight', 1, 1_000, 8),
    reasonCodes: number('reason-codes', 0, 100, 3),
    connectTimeoutMs: number('connect-timeout-ms', 0, 3_600_000, 10_000),
    reconnectTimeoutMs: number('reconnect-timeout-ms', 0, 86_400_000, 120_000),
    progressIntervalMs: number('progress-interval-ms', 100, 3_600_000, 10_000),
  };
}

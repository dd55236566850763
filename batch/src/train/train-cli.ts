/**
 * `npm run batch:train`: retrains the churn and CLV models from the feature store's labelled customers,
 * registers the candidates in the model registry through the server's admin API (or in a model folder) and
 * promotes each one that passes its gate. Kubernetes
 * runs it as a weekly CronJob. (`npm run train` is different: it rebuilds the bundled models from the
 * synthetic population, byte for byte.)
 */
import { parseArgs } from 'node:util';
import { ClientError, Status } from 'nice-grpc';
import { ConfigError } from '../../../server/src/config/config.js';
import { closePool, createPool } from '../../../server/src/db/pool.js';
import { createLogger } from '../../../server/src/telemetry/logger.js';
import { toUsageError, USAGE_EXIT_CODE, UsageError } from '../../../client/src/cli/usage-error.js';
import { loadBatchEnvironment } from '../cli/batch-environment.js';
import { credentialsToReach, type ServerCredentials } from '../../../client/src/cli/server-credentials.js';
import { openBatchDatabase } from '../db/batch-database.js';
import { FileModelDestination } from './file-model-destination.js';
import { AdminModelDestination } from './admin-model-destination.js';
import {
  MODEL_FAMILIES,
  runTrainJob,
  TRAINED_MODELS,
  type ModelFamily,
  type TrainedModelName,
} from './train-job.js';

const USAGE = `Usage: npm run batch:train -- [options]

Builds a training snapshot from Postgres (customer_features joined with customer_labels observed on or
before --as-of) and trains each model in every family on it (linear: logistic / ridge regression; trees:
gradient-boosted trees), registering each candidate as the next version in the model registry (what the
servers serve) through a server's ModelAdminService, or in a model folder. Every candidate and the current
default version are evaluated on the same holdout; a candidate passes when no gate metric (churn: AUC,
log-loss; clv: RMSE, MAE) is worse than the champion's by more than --margin, and of the candidates that
pass the one best on the first metric (AUC, RMSE) becomes the default. The server loads and warms a version
before it becomes the default, and audits every change with the caller's identity.

Options:
  --address <host:port> the server whose admin API registers the models (default: $ADMIN_ADDRESS or localhost:50051)
  --out <dir>          write to this file-system model repository instead of the registry
  --as-of <date>       use labels observed on or before this day, YYYY-MM-DD (default: today, UTC)
  --margin <fraction>  largest tolerated relative worsening, e.g. 0.01 = 1 % (default: $TRAIN_PROMOTION_MARGIN or 0.01)
  --model <name>       train only this model: ${Object.keys(TRAINED_MODELS).join(' or ')} (repeatable; default: all)
  --family <name>      train only this family: ${MODEL_FAMILIES.join(' or ')} (repeatable; default: all)
  -h, --help           show this help

Database: DATABASE_URL, or the embedded quick-start Postgres when unset.
Server credentials (role admin): ADMIN_API_KEY(_FILE) or ADMIN_BEARER_TOKEN(_FILE); TLS: ADMIN_TLS,
ADMIN_TLS_CA_FILE, ADMIN_TLS_CERT_FILE, ADMIN_TLS_KEY_FILE, ADMIN_TLS_SERVER_NAME.
A rejected candidate is not an error: it stays registered (pinnable by version) and the output says why.`;

interface TrainArgs {
  /** A file-system repository; `undefined` = the model registry through {@link address}. */
  readonly out: string | undefined;
  /** The server whose ModelAdminService registers the models. */
  readonly address: string;
  readonly asOf: string;
  readonly margin: number;
  readonly models: readonly TrainedModelName[] | undefined;
  readonly families: readonly ModelFamily[] | undefined;
}

function parseTrainArgs(argv: string[], env: NodeJS.ProcessEnv): TrainArgs | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      address: { type: 'string' },
      'as-of': { type: 'string' },
      margin: { type: 'string' },
      model: { type: 'string', multiple: true },
      family: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const asOf = values['as-of'] ?? new Date().toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf) || Number.isNaN(Date.parse(`${asOf}T00:00:00Z`))) {
    throw new UsageError(`--as-of: expected a date YYYY-MM-DD, got ${JSON.stringify(asOf)}`);
  }
  const rawMargin = values.margin ?? (env.TRAIN_PROMOTION_MARGIN || '0.01');
  const margin = Number(rawMargin);
  if (rawMargin.trim() === '' || !Number.isFinite(margin) || margin < 0 || margin > 1) {
    const where =
      values.margin === undefined ? 'TRAIN_PROMOTION_MARGIN (the default of --margin)' : '--margin';
    throw new UsageError(`${where}: expected a fraction from 0 to 1, got ${JSON.stringify(rawMargin)}`);
  }
  for (const model of values.model ?? []) {
    if (!(model in TRAINED_MODELS)) {
      throw new UsageError(
        `--model: expected ${Object.keys(TRAINED_MODELS).join(' or ')}, got ${JSON.stringify(model)}`,
      );
    }
  }
  for (const family of values.family ?? []) {
    if (!(MODEL_FAMILIES as readonly string[]).includes(family)) {
      throw new UsageError(
        `--family: expected ${MODEL_FAMILIES.join(' or ')}, got ${JSON.stringify(family)}`,
      );
    }
  }
  return {
    out: values.out,
    address: values.address ?? (env.ADMIN_ADDRESS || 'localhost:50051'),
    asOf,
    margin,
    models: values.model as TrainedModelName[] | undefined,
    families: values.family as ModelFamily[] | undefined,
  };
}

async function main(): Promise<number> {
  let args: TrainArgs | undefined;
  let config;
  let credentials: ServerCredentials | undefined;
  try {
    args = parseTrainArgs(process.argv.slice(2), process.env);
    if (args === undefined) {
      console.log(USAGE);
      return 0;
    }
    config = loadBatchEnvironment(process.env);
    if (args.out === undefined) {
      credentials = await credentialsToReach(args.address, process.env, 'ADMIN');
    }
  } catch (error) {
    const usage = error instanceof ConfigError ? error : toUsageError(error);
    console.error(`train: ${usage.message}${usage instanceof UsageError ? `\n\n${USAGE}` : ''}`);
    return USAGE_EXIT_CODE;
  }

  const logger = createLogger({ level: config.logLevel });
  let database;
  try {
    database = await openBatchDatabase(config, logger);
  } catch (error) {
    console.error(
      `train: cannot open the database: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
  const pool = createPool({
    connectionString: database.url,
    max: 2,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    applicationName: 'ci-batch-train',
    logger,
  });
  const destination =
    args.out === undefined
      ? new AdminModelDestination(args.address, credentials?.clientOptions)
      : new FileModelDestination(args.out);
  try {
    const started = performance.now();
    const result = await runTrainJob(
      { pool, destination, logger },
      {
        asOf: args.asOf,
        margin: args.margin,
        ...(args.models && { models: args.models }),
        ...(args.families && { families: args.families }),
      },
    );
    console.log(
      `snapshot ${result.snapshotId}: ${result.trainRows} training and ${result.holdoutRows} holdout customers` +
        (result.skippedIncomplete > 0 ? ` (${result.skippedIncomplete} skipped: unknown features)` : ''),
    );
    for (const report of result.models) {
      const metrics = Object.keys(report.candidateMetrics)
        .map((metric) => {
          const champion = report.champion?.metrics[metric];
          return `${metric} ${report.candidateMetrics[metric]!.toFixed(4)}${champion === undefined ? '' : ` (champion ${champion.toFixed(4)})`}`;
        })
        .join(', ');
      console.log(
        `${report.model}@${report.version} ${report.promoted ? 'PROMOTED' : 'registered, NOT promoted'}` +
          ` (${report.algorithm})` +
          `${report.champion ? ` over ${report.model}@${report.champion.version}` : ''}: ${metrics}`,
      );
      console.log(`  ${report.reason}`);
    }
    console.log(
      `models in ${destination.description}; trained in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return 0;
  } catch (error) {
    logger.error({ err: error }, 'training failed');
    console.error(`train: ${describeFailure(error, args.address)}`);
    return 1;
  } finally {
    if (destination instanceof AdminModelDestination) destination.close();
    await closePool(pool);
    await database.close();
  }
}

/** A failure as one line; a refused admin call names the server, the status and what to check. */
function describeFailure(error: unknown, address: string): string {
  if (!(error instanceof ClientError)) return error instanceof Error ? error.message : String(error);
  const hint =
    error.code === Status.UNAVAILABLE
      ? '; is it running? Set --address or ADMIN_ADDRESS'
      : error.code === Status.UNAUTHENTICATED || error.code === Status.PERMISSION_DENIED
        ? '; the trainer needs a credential with the admin role (ADMIN_API_KEY_FILE or ADMIN_BEARER_TOKEN_FILE)'
        : '';
  return `the server at ${address} answered ${Status[error.code]}: ${error.details}${hint}`;
}

process.exitCode = await main();

/**
 * `npm run batch:retention -- --retention-days 30`: drops prediction partitions (batch outputs and the online
 * audit log) and batch run records older than the retention. Kubernetes runs it as a daily CronJob.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../../../server/src/config/config.js';
import { closePool, createPool } from '../../../server/src/db/pool.js';
import { createLogger } from '../../../server/src/telemetry/logger.js';
import { integerFlag } from '../cli/integer-flag.js';
import { toUsageError, USAGE_EXIT_CODE, UsageError } from '../../../client/src/cli/usage-error.js';
import { loadBatchEnvironment } from '../cli/batch-environment.js';
import { openBatchDatabase } from '../db/batch-database.js';
import { applyRetention } from './retention-job.js';

const USAGE = `Usage: npm run batch:retention -- [--retention-days N] [--dry-run]

Drops prediction data dated more than N days before today (UTC): the day partitions of the batch outputs
(batch_predictions) and of the online audit log (prediction_audit), and the batch_runs with their shards
and item errors.

Options:
  --retention-days <n>   days to keep (default: $BATCH_RETENTION_DAYS or 30)
  --dry-run              list what would be dropped, drop nothing
  -h, --help             show this help

Database: DATABASE_URL, or the embedded quick-start Postgres when unset.`;

async function main(): Promise<number> {
  let retentionDays: number;
  let dryRun: boolean;
  let config;
  try {
    const { values } = parseArgs({
      options: {
        'retention-days': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    retentionDays = integerFlag(
      values['retention-days'],
      { flag: '--retention-days', env: 'BATCH_RETENTION_DAYS' },
      { min: 0, max: 36_500 },
      process.env,
      30,
    );
    dryRun = values['dry-run'];
    config = loadBatchEnvironment(process.env);
  } catch (error) {
    const usage = error instanceof ConfigError ? error : toUsageError(error);
    console.error(`retention: ${usage.message}${usage instanceof UsageError ? `\n\n${USAGE}` : ''}`);
    return USAGE_EXIT_CODE;
  }

  const logger = createLogger({ level: config.logLevel });
  let database;
  try {
    database = await openBatchDatabase(config, logger);
  } catch (error) {
    console.error(
      `retention: cannot open the database: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
  const pool = createPool({
    connectionString: database.url,
    max: 2,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    applicationName: 'ci-batch-retention',
    logger,
  });
  try {
    const result = await applyRetention(pool, logger, { retentionDays, dryRun });
    const verb = dryRun ? 'would drop' : 'dropped';
    console.log(
      `retention ${retentionDays} days (keeping runs from ${result.cutoff} on): ${verb} ` +
        `${result.droppedPartitions.length} partitions and ${result.deletedRuns} runs; ` +
        `${result.keptPartitions.length} partitions kept`,
    );
    for (const partition of result.droppedPartitions)
      console.log(`  ${verb} ${partition.table} ${partition.name}`);
    return 0;
  } catch (error) {
    logger.error({ err: error }, 'retention failed');
    console.error(`retention: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await closePool(pool);
    await database.close();
  }
}

process.exitCode = await main();

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database).
 * Safe to run twice and from several pods at once; the chart runs it as a pre-upgrade hook.
 */
import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger } from '../telemetry/logger.js';
import { migrate } from './migrate.js';
import { openDatabase } from './open-database.js';

try {
  const config = loadConfig(process.env, { serving: false });
  const logger = createLogger({ level: config.logLevel });
  const database = await openDatabase(config, logger);
  try {
    const applied = await migrate(database.url, logger);
    logger.info({ applied: applied.length }, 'database is up to date');
  } finally {
    await database.close();
  }
} catch (error) {
  process.stderr.write(`migrate: ${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

/**
 * `npm run migrate [-- --grant-roles]`: applies pending migrations to DATABASE_URL (or the embedded
 * database); with `--grant-roles`, then runs `roles.sql` (the least-privilege roles' grants, for tables the
 * migrations may have added). Safe to run twice and from several pods at once; the chart runs it as a
 * pre-upgrade hook.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.js';
import { StartupError } from '../lifecycle/startup-error.js';
import { createLogger } from '../telemetry/logger.js';
import { migrate } from './migrate.js';
import { openDatabase } from './open-database.js';
import { grantDatabaseRoles } from './roles.js';

try {
  const { values } = parseArgs({ options: { 'grant-roles': { type: 'boolean', default: false } } });
  const config = loadConfig(process.env, { serving: false });
  const logger = createLogger({ level: config.logLevel });
  const database = await openDatabase(config, logger);
  try {
    const applied = await migrate(database.url, logger);
    if (values['grant-roles']) {
      await grantDatabaseRoles(database.url);
      logger.info('least-privilege roles granted (roles.sql)');
    }
    logger.info({ applied: applied.length }, 'database is up to date');
  } finally {
    await database.close();
  }
} catch (error) {
  // These say what to fix in their message; anything else keeps its name.
  const usage =
    error instanceof ConfigError ||
    error instanceof StartupError ||
    (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(`migrate: ${usage ? (error as Error).message : String(error)}\n`);
  process.exitCode = 1;
}

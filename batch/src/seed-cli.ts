/**
 * `npm run seed -- --customers 100000`: migrates and seeds DATABASE_URL (or the embedded database) with
 * the synthetic population, if its feature store is empty.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../../server/src/config/config.js';
import { migrate } from '../../server/src/db/migrate.js';
import { openDatabase } from '../../server/src/db/open-database.js';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { seedIfEmpty } from '../../server/src/demo-data/seed.js';

const USAGE = `Usage: npm run seed -- [--customers N]

Migrates the database (DATABASE_URL, or the embedded one) and, if customer_features is empty,
inserts N synthetic customers with ground-truth labels (default: $SEED_CUSTOMERS or 100000).`;

const { values } = parseArgs({
  options: { customers: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const config = loadConfig(process.env, { serving: false });
const count = values.customers === undefined ? config.seedCustomers : Number(values.customers);
if (!Number.isInteger(count) || count < 0) {
  console.error(`--customers: expected a non-negative integer, got ${values.customers}`);
  process.exit(2);
}
const logger = createLogger({ level: config.logLevel });
let database;
try {
  database = await openDatabase(config, logger);
} catch (error) {
  console.error(`seed: cannot open the database: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const pool = createPool({
  connectionString: database.url,
  max: 2,
  connectTimeoutMs: config.databaseConnectTimeoutMs,
  applicationName: 'ci-seed',
  logger,
});
try {
  await migrate(database.url, logger);
  const inserted = await seedIfEmpty({ pool, count, logger });
  console.log(
    inserted > 0 ? `seeded ${inserted} customers` : 'feature store already has customers; nothing to do',
  );
} finally {
  await closePool(pool);
  await database.close();
}

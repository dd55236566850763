import type pg from 'pg';
import type { Config } from '../config/config.js';
import { seedIfEmpty } from '../demo-data/seed.js';
import type { Logger } from '../telemetry/logger.js';
import { loadEmbeddedPostgres } from './load-embedded-postgres.js';
import { migrate } from './migrate.js';

/** The quick start's database, used when DATABASE_URL is unset: an embedded Postgres of this process. */
export interface DefaultDatabase {
  /** Connection string of the embedded Postgres (valid before {@link start}). */
  readonly url: string;
  /**
   * Starts Postgres, applies the migrations and, when `customer_features` is empty, seeds SEED_CUSTOMERS
   * synthetic customers through `pool` (a pool on {@link url}).
   */
  start(pool: Pick<pg.Pool, 'connect'>): Promise<void>;
  /** Stops Postgres (the data folder stays); safe to call more than once, and before {@link start}. */
  close(): Promise<void>;
}

/**
 * Prepares the embedded database without starting it, so that its connection string is known while the
 * gRPC port opens and the models load.
 *
 * @throws StartupError when the embedded Postgres is not installed (a production install: DATABASE_URL is
 * required there, see {@link loadEmbeddedPostgres}) or cannot be prepared.
 */
export async function prepareDefaultDatabase(
  config: Pick<Config, 'embeddedPostgresDir' | 'embeddedPostgresPort' | 'seedCustomers'>,
  logger: Logger,
): Promise<DefaultDatabase> {
  const { prepareEmbeddedPostgres } = await loadEmbeddedPostgres();
  const postgres = await prepareEmbeddedPostgres({
    dir: config.embeddedPostgresDir,
    port: config.embeddedPostgresPort,
    logger,
  });
  return {
    url: postgres.url,
    async start(pool) {
      await postgres.start();
      await migrate(postgres.url, logger);
      await seedIfEmpty({ pool, count: config.seedCustomers, logger });
    },
    close: () => postgres.close(),
  };
}

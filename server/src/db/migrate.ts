import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../telemetry/logger.js';

/** The folder of versioned SQL migrations (`NNNN_name.sql`, `-- Up Migration` / `-- Down Migration`). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies every pending migration. Idempotent, and safe when several processes run it at once:
 * node-pg-migrate takes a Postgres advisory lock, and with `advisoryLockMode: 'wait'` the second
 * process waits for the first and then finds nothing to do (`test/integration/migrate.test.ts`).
 *
 * @returns the names of the migrations this call applied.
 */
export async function migrate(databaseUrl: string, logger: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'schema_migrations',
    advisoryLockMode: 'wait',
    checkOrder: true,
    singleTransaction: true,
    log: (message: string) => logger.debug({ migrate: message }, 'migration'),
  });
  const names = applied.map((migration) => migration.name);
  if (names.length > 0) logger.info({ migrations: names }, 'applied database migrations');
  return names;
}

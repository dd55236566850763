import pg from 'pg';
import { loadEmbeddedPostgres } from '../../../server/src/db/load-embedded-postgres.js';
import { migrate } from '../../../server/src/db/migrate.js';
import type { OpenDatabase } from '../../../server/src/db/open-database.js';
import type { Logger } from '../../../server/src/telemetry/logger.js';
import type { BatchEnvironment } from '../cli/batch-environment.js';

/**
 * Resolves the database a batch CLI (`score`, `train`, `retention`) works on:
 *
 * - `DATABASE_URL` when set. Migrations are then the deployment's job (`npm run migrate`, the chart's hook),
 *   as for the server: a batch role need not own the schema.
 * - Otherwise the quick start's embedded Postgres (`EMBEDDED_POSTGRES_DIR`, `EMBEDDED_POSTGRES_PORT`): reused
 *   when it already runs (under `npm start`, which owns it), else started for the duration of the command;
 *   either way migrated, as `npm start` would.
 *
 * `close()` stops the embedded server only when this call started it.
 */
export async function openBatchDatabase(
  config: Pick<BatchEnvironment, 'databaseUrl' | 'embeddedPostgresDir' | 'embeddedPostgresPort'>,
  logger: Logger,
): Promise<OpenDatabase> {
  if (config.databaseUrl !== undefined) {
    return { url: config.databaseUrl, embedded: false, close: async () => undefined };
  }
  const { prepareEmbeddedPostgres } = await loadEmbeddedPostgres();
  const embedded = await prepareEmbeddedPostgres({
    dir: config.embeddedPostgresDir,
    port: config.embeddedPostgresPort,
    logger,
  });
  const running = await answers(embedded.url);
  if (!running) await embedded.start();
  try {
    await migrate(embedded.url, logger);
  } catch (error) {
    await embedded.close();
    throw error;
  }
  // close() stops the server only if start() ran above; one that `npm start` owns is left running.
  return { url: embedded.url, embedded: true, close: () => embedded.close() };
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

import type { Config } from '../config/config.js';
import type { Logger } from '../telemetry/logger.js';
import { loadEmbeddedPostgres } from './load-embedded-postgres.js';

/** A database for a command-line tool: DATABASE_URL, or the embedded Postgres started for the duration. */
export interface OpenDatabase {
  readonly url: string;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * Resolves the database the CLIs (`npm run migrate`, `npm run seed`) work on: `DATABASE_URL` when set,
 * otherwise the quick start's embedded Postgres (started here, stopped by `close()`).
 *
 * @throws StartupError when the embedded Postgres is needed but not installed (a production install, see
 * {@link loadEmbeddedPostgres}) or cannot start.
 */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'embeddedPostgresDir' | 'embeddedPostgresPort'>,
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
  await embedded.start();
  return { url: embedded.url, embedded: true, close: () => embedded.close() };
}

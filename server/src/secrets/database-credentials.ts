import type { Config } from '../config/config.js';
import { watchDatabaseUrlFile } from '../db/database-url-file.js';
import type { Logger } from '../telemetry/logger.js';
import type { VaultSecrets } from './start-vault.js';

/** How often DATABASE_URL_FILE is checked for re-rendered credentials, in ms. */
const URL_FILE_INTERVAL_MS = 1_000;

/** The primary database's connection string, and where its rotated credentials come from. */
export interface DatabaseCredentials {
  /** The connection string to start with. */
  readonly url: string;
  /** Whether the credentials rotate (Vault's dynamic credentials, DATABASE_URL_FILE). */
  readonly rotating: boolean;
  /**
   * Hands each rotated connection string to `rotate`: Vault's new leases, and DATABASE_URL_FILE whenever
   * its content changes (kept as the current one only once `rotate` resolves).
   *
   * @returns a function that stops following; safe to call more than once.
   */
  follow(rotate: (url: string) => Promise<void>): () => void;
}

/**
 * The server's database credentials, by precedence: Vault's dynamic credentials (VAULT_DB_ROLE), then
 * DATABASE_URL or DATABASE_URL_FILE, then the embedded database's URL.
 *
 * @throws Error when none of them is available (no DATABASE_URL and no embedded database).
 */
export function databaseCredentials(
  config: Pick<Config, 'databaseUrl' | 'databaseUrlFile'>,
  sources: { vault: VaultSecrets | undefined; embeddedUrl: string | undefined; logger: Logger },
): DatabaseCredentials {
  const { vault, logger } = sources;
  const url = vault?.databaseUrl ?? config.databaseUrl ?? sources.embeddedUrl;
  if (url === undefined) throw new Error('no database: DATABASE_URL is unset and no embedded database');
  const urlFile = config.databaseUrlFile;
  return {
    url,
    rotating: vault?.databaseUrl !== undefined || urlFile !== undefined,
    follow(rotate) {
      const stops = [
        vault?.databaseUrl === undefined ? () => undefined : vault.onDatabaseRotation(rotate),
        urlFile === undefined
          ? () => undefined
          : watchDatabaseUrlFile(urlFile, url, rotate, { intervalMs: URL_FILE_INTERVAL_MS, logger }),
      ];
      return () => stops.forEach((stop) => stop());
    },
  };
}

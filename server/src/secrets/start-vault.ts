import type { VaultConfig } from '../config/vault-config.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { DynamicDatabaseCredentials } from './dynamic-database-credentials.js';
import { syncVaultKvToFiles } from './vault-kv-files.js';
import { VaultSession } from './vault-session.js';

/** What the server gets from Vault. */
export interface VaultSecrets {
  /** DATABASE_URL with dynamic credentials, when VAULT_DB_ROLE is set. */
  readonly databaseUrl: string | undefined;
  /**
   * Hands each newly issued connection string to `listener` (one listener; a later call replaces it)
   * until the returned function is called. Without a listener new credentials are issued all the same.
   */
  onDatabaseRotation(listener: (url: string) => Promise<void>): () => void;
  /** Stops renewing and refreshing, and revokes the database leases this process holds. */
  stop(): Promise<void>;
}

/**
 * Logs in to Vault, mirrors the KV secret into files (API keys, JWT secret, TLS material) and issues
 * dynamic database credentials, whose rotations reach the listener given to `onDatabaseRotation`.
 *
 * @throws VaultError when Vault is unreachable or refuses: the server must not start without its secrets.
 */
export async function startVault(
  config: VaultConfig,
  databaseUrl: string | undefined,
  deps: { logger: Logger; metrics: Metrics },
): Promise<VaultSecrets> {
  let listener: ((url: string) => Promise<void>) | undefined;
  const session = await VaultSession.start(config, deps);
  const stopKv =
    config.kv === undefined
      ? () => undefined
      : await syncVaultKvToFiles(session, { ...config.kv, intervalMs: config.kv.refreshMs }, deps.logger);
  const credentials =
    config.database === undefined || databaseUrl === undefined
      ? undefined
      : await DynamicDatabaseCredentials.start(
          session,
          { mount: config.database.mount, role: config.database.role, databaseUrl },
          {
            onRotate: async (url) => listener?.(url),
            logger: deps.logger,
            metrics: deps.metrics,
          },
        );
  return {
    databaseUrl: credentials?.url,
    onDatabaseRotation(next) {
      listener = next;
      return () => {
        if (listener === next) listener = undefined;
      };
    },
    async stop() {
      stopKv();
      // Revoked while the session's token is still renewed; the pools closed before this runs.
      await credentials?.close();
      session.close();
    },
  };
}

import type { Config } from '../config/config.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { closePool, createPool } from './pool.js';
import { RotatingPool } from './rotating-pool.js';

/** The server's two Postgres pools. */
export interface DatabasePools {
  /** Everything but feature reads: the model registry, the audit log, batch freshness. */
  readonly primary: RotatingPool;
  /** Feature reads: the read replica when DATABASE_READ_URL is set, bounded by FEATURE_QUERY_TIMEOUT_MS. */
  readonly features: RotatingPool;
  /**
   * Switches both pools to the primary's new credentials without failing a call (see {@link RotatingPool}).
   *
   * @throws when the new credentials do not work; the pools then keep the current ones.
   */
  rotate(primaryUrl: string): Promise<void>;
  /** Ends both pools, the feature pool first; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Creates the primary and the feature pool, and the `ci_db_pool_connections` gauges that report them.
 *
 * `credentials.url` is the primary's connection string; `credentials.rotating` says whether it will be
 * replaced by rotated credentials (Vault, DATABASE_URL_FILE).
 */
export function createDatabasePools(
  config: Pick<
    Config,
    'databaseReadUrl' | 'databasePoolMax' | 'databaseConnectTimeoutMs' | 'featureQueryTimeoutMs'
  >,
  credentials: { readonly url: string; readonly rotating: boolean },
  deps: { logger: Logger; metrics: Metrics },
): DatabasePools {
  const { logger, metrics } = deps;
  const readUrl = (primaryUrl: string) =>
    replicaUrl(primaryUrl, config.databaseReadUrl, credentials.rotating);
  const options = { max: config.databasePoolMax, connectTimeoutMs: config.databaseConnectTimeoutMs, logger };
  const primary = new RotatingPool(
    (connectionString) => createPool({ ...options, connectionString, applicationName: 'ci-server' }),
    credentials.url,
    logger,
  );
  const features = new RotatingPool(
    (connectionString) =>
      createPool({
        ...options,
        connectionString,
        applicationName: 'ci-server-features',
        statementTimeoutMs: config.featureQueryTimeoutMs,
      }),
    readUrl(credentials.url),
    logger,
  );
  metrics.addSampler(() => {
    for (const [name, pool] of Object.entries({ primary, features })) {
      metrics.poolConnections.set({ pool: name, state: 'total' }, pool.totalCount);
      metrics.poolConnections.set({ pool: name, state: 'idle' }, pool.idleCount);
      metrics.poolConnections.set({ pool: name, state: 'waiting' }, pool.waitingCount);
    }
  });
  return {
    primary,
    features,
    async rotate(primaryUrl) {
      await Promise.all([primary.rotate(primaryUrl), features.rotate(readUrl(primaryUrl))]);
    },
    async close() {
      await closePool(features);
      await closePool(primary);
    },
  };
}

/**
 * The read replica's connection string: DATABASE_READ_URL as written, or the primary's when it is unset.
 * Rotated credentials are issued for the primary only, so with rotation the replica gets the primary's
 * (possibly rotating) username and password.
 */
function replicaUrl(primaryUrl: string, readUrl: string | undefined, rotating: boolean): string {
  if (readUrl === undefined) return primaryUrl;
  if (!rotating) return readUrl;
  const [primary, replica] = [new URL(primaryUrl), new URL(readUrl)];
  replica.username = primary.username;
  replica.password = primary.password;
  return replica.toString();
}

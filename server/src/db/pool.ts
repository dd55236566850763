import pg from 'pg';
import type { Logger } from '../telemetry/logger.js';

/** Options for {@link createPool}. */
export interface PoolOptions {
  /** Postgres connection string. */
  connectionString: string;
  /** Maximum connections. */
  max: number;
  /** How long to wait for a new connection before failing, in ms. */
  connectTimeoutMs: number;
  /** Server-side `statement_timeout` for every statement on these connections, in ms; unset = none. */
  statementTimeoutMs?: number;
  /** Shown in `pg_stat_activity.application_name`. */
  applicationName: string;
  logger: Logger;
}

/**
 * Creates a `pg` pool (pg-pool underneath) that never crashes the process: errors on idle connections
 * (Postgres restarted, network cut) are logged and the broken connection is dropped, as pg-pool does.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName,
    // The client-side guard fires a little after the server's own statement_timeout, so the server's
    // cancellation (which frees the backend) normally wins.
    ...(options.statementTimeoutMs === undefined
      ? {}
      : { statement_timeout: options.statementTimeoutMs, query_timeout: options.statementTimeoutMs + 250 }),
  });
  pool.on('error', (error) => {
    options.logger.warn({ err: error, pool: options.applicationName }, 'idle Postgres connection failed');
  });
  return pool;
}

/** Closes a pool; safe to call more than once. */
export async function closePool(pool: Pick<pg.Pool, 'ended' | 'end'>): Promise<void> {
  if (!pool.ended) await pool.end();
}

import CircuitBreaker from 'opossum';
import type { DatabasePool } from '../db/rotating-pool.js';
import { errors } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

/** Feature rows by customer id; each row is aligned with {@link FeatureStore.columns}, NaN = unknown. */
export type FeatureRows = ReadonlyMap<string, Float64Array>;

/** Options for {@link createFeatureStore}. */
export interface FeatureStoreOptions {
  /** Failure percentage in the rolling window that opens the breaker. */
  breakerErrorPercent: number;
  /** Minimum lookups in the window before the breaker may open. */
  breakerVolumeThreshold: number;
  /** How long the breaker stays open before a probe, in ms. */
  breakerResetMs: number;
  /** Largest `= ANY($1)` array sent in one query; bigger fetches are split. @default 5000 */
  maxIdsPerQuery?: number;
}

/** Reads customer features from Postgres. */
export interface FeatureStore {
  /** Feature names in row order (empty until {@link start} resolved). */
  readonly columns: readonly string[];
  /** Whether lookups are currently let through (breaker not open). */
  readonly available: boolean;
  /**
   * Reads the registry and checks that every registered feature is a column of `customer_features`,
   * and that `required` features are all registered.
   *
   * @throws Error naming the missing feature or column.
   */
  start(required: ReadonlySet<string>): Promise<void>;
  /**
   * Reads the features of `customerIds` (split into queries of at most `maxIdsPerQuery` ids). Who may
   * query when, and which lookups share a query, is the work scheduler's (`scheduling/feature-lookups.ts`).
   * Unknown ids are simply absent from the result.
   *
   * @throws AppError UNAVAILABLE when the store cannot answer (not started, breaker open, connection
   *   refused, statement timeout).
   */
  fetch(customerIds: readonly string[]): Promise<FeatureRows>;
  /** Called with the new availability whenever the breaker opens or closes. */
  onAvailabilityChange(listener: (available: boolean) => void): void;
  /** Stops the breaker's timers. The pool is closed by its owner. */
  close(): void;
}

/**
 * Creates the Postgres feature store: `WHERE customer_id = ANY($1)` queries run through an opossum circuit
 * breaker so that an unreachable database answers UNAVAILABLE at once instead of after a timeout.
 * Query time is bounded by the pool's `statement_timeout`.
 */
export function createFeatureStore(
  deps: { pool: DatabasePool; logger: Logger; metrics: Metrics },
  options: FeatureStoreOptions,
): FeatureStore {
  const { pool, logger, metrics } = deps;
  const maxIdsPerQuery = options.maxIdsPerQuery ?? 5_000;
  let columns: readonly string[] = [];
  let sql = '';
  const listeners: Array<(available: boolean) => void> = [];

  const breaker = new CircuitBreaker(
    async (ids: string[]): Promise<Array<[string, Float64Array]>> => {
      const stopTimer = metrics.featureFetchSeconds.startTimer();
      const result = await pool.query<unknown[]>({ text: sql, values: [ids], rowMode: 'array' }).then(
        (value) => {
          stopTimer({ outcome: 'ok' });
          return value;
        },
        (error: unknown) => {
          stopTimer({ outcome: 'error' });
          throw error;
        },
      );
      return result.rows.map((row) => {
        const values = new Float64Array(columns.length);
        for (let i = 0; i < columns.length; i++) {
          const value = row[i + 1];
          values[i] = typeof value === 'number' ? value : NaN;
        }
        return [row[0] as string, values];
      });
    },
    {
      name: 'feature-store',
      timeout: false, // statement_timeout bounds the query on the server side.
      errorThresholdPercentage: options.breakerErrorPercent,
      volumeThreshold: options.breakerVolumeThreshold,
      resetTimeout: options.breakerResetMs,
      rollingCountTimeout: 10_000,
    },
  );
  const notify = (available: boolean) => listeners.forEach((listener) => listener(available));
  const breakerState = metrics.breakerState.labels({ breaker: 'feature-store' });
  breakerState.set(0);
  breaker.on('open', () => {
    logger.warn({ breaker: 'feature-store' }, 'feature store breaker opened; by-id lookups fail fast');
    breakerState.set(2);
    notify(false);
  });
  breaker.on('halfOpen', () => {
    logger.info({ breaker: 'feature-store' }, 'feature store breaker half-open');
    breakerState.set(1);
  });
  breaker.on('close', () => {
    logger.info({ breaker: 'feature-store' }, 'feature store breaker closed');
    breakerState.set(0);
    notify(true);
  });

  async function fetch(ids: readonly string[]): Promise<FeatureRows> {
    if (sql === '' || breaker.opened) throw errors.featureStoreUnavailable();
    try {
      const chunks: string[][] = [];
      for (let i = 0; i < ids.length; i += maxIdsPerQuery) chunks.push(ids.slice(i, i + maxIdsPerQuery));
      const results = await Promise.all(chunks.map((chunk) => breaker.fire(chunk)));
      return new Map(results.flat());
    } catch (error) {
      if (!breaker.opened) logger.warn({ err: error }, 'feature lookup failed');
      throw errors.featureStoreUnavailable(error);
    }
  }

  return {
    get columns() {
      return columns;
    },
    get available() {
      return !breaker.opened;
    },
    async start(required) {
      const registered = await pool.query<{ name: string; is_column: boolean }>(
        `SELECT r.name, c.column_name IS NOT NULL AS is_column
           FROM feature_registry r
           LEFT JOIN information_schema.columns c
             ON c.table_schema = current_schema() AND c.table_name = 'customer_features' AND c.column_name = r.name
          ORDER BY r.name`,
      );
      const notColumns = registered.rows.filter((row) => !row.is_column).map((row) => row.name);
      if (notColumns.length > 0) {
        throw new Error(`registered features without a customer_features column: ${notColumns.join(', ')}`);
      }
      const names = registered.rows.map((row) => row.name);
      const unregistered = [...required].filter((name) => !names.includes(name));
      if (unregistered.length > 0) {
        throw new Error(`models use features missing from feature_registry: ${unregistered.join(', ')}`);
      }
      columns = Object.freeze(names);
      // Column names come from the registry, whose CHECK constraint allows only [a-z0-9_] identifiers.
      sql = `SELECT customer_id, ${names.join(', ')} FROM customer_features WHERE customer_id = ANY($1::text[])`;
    },
    fetch,
    onAvailabilityChange(listener) {
      listeners.push(listener);
    },
    close() {
      breaker.shutdown();
    },
  };
}

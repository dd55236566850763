import type pg from 'pg';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { DatabasePool } from './rotating-pool.js';

// pg honours a per-query `query_timeout`; @types/pg does not declare it.
const lastSuccessQuery: pg.QueryConfig & { query_timeout: number } = {
  text: `SELECT model, extract(epoch FROM max(finished_at))::float8 AS finished
           FROM batch_runs WHERE status = 'succeeded' GROUP BY model`,
  query_timeout: 1_000,
};

/**
 * Refreshes `ci_batch_last_success_timestamp_seconds` at each scrape from `batch_runs`, which the batch
 * jobs write. A slow or absent database must not hold up the scrape, hence the 1 s query timeout; when
 * the query fails the gauges keep their last values (logged at debug level).
 */
export function sampleBatchFreshness(deps: { pool: DatabasePool; metrics: Metrics; logger: Logger }): void {
  const { pool, metrics, logger } = deps;
  metrics.addSampler(async () => {
    try {
      const { rows } = await pool.query<{ model: string; finished: number }>(lastSuccessQuery);
      for (const row of rows) metrics.batchLastSuccess.set({ model: row.model }, row.finished);
    } catch (error) {
      logger.debug({ err: error }, 'batch freshness not available');
    }
  });
}

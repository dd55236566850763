import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { createFeatureStore, type FeatureStore } from '../../server/src/features/feature-store.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics } from '../../server/src/telemetry/metrics.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

const name = `test_fs_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
let pool: pg.Pool;
let store: FeatureStore;
let queries = 0;

beforeAll(async () => {
  const url = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), name);
  pool = createPool({
    connectionString: url,
    max: 4,
    connectTimeoutMs: 2_000,
    statementTimeoutMs: 1_000,
    applicationName: 'test',
    logger,
  });
  // Count the queries the store sends through the (real) pool.
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    queries++;
    return query(...args);
  };
  store = createFeatureStore(
    { pool, logger, metrics: createMetrics(), tracer: trace.getTracer('test') },
    { breakerErrorPercent: 50, breakerVolumeThreshold: 5, breakerResetMs: 1_000 },
  );
  await store.start(new Set(['tenure_months', 'spend_12m']));
});
afterAll(async () => {
  store?.close();
  await closePool(pool);
  await dropDatabase(inject('postgresUrl'), name);
});

describe('the feature store', () => {
  it('coalesces the lookups of one tick into a single = ANY($1) query', async () => {
    const before = queries;
    const signal = new AbortController().signal;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.lookup([String(i + 1), 'missing'], signal)),
    );
    expect(queries - before).toBe(1);
    const tenure = store.columns.indexOf('tenure_months');
    for (const [i, rows] of results.entries()) {
      expect(rows.get(String(i + 1))?.[tenure]).toBeGreaterThanOrEqual(0);
      expect(rows.has('missing')).toBe(false);
    }
  });

  it('lets an aborted caller go at once while the others get their rows', async () => {
    const aborted = new AbortController();
    const abandoned = store.lookup(['1'], aborted.signal);
    const kept = store.lookup(['2'], new AbortController().signal);
    aborted.abort(new DOMException('client went away', 'AbortError'));
    await expect(abandoned).rejects.toThrow('client went away');
    expect((await kept).has('2')).toBe(true);
  });

  it('refuses to start when a model needs an unregistered feature', async () => {
    const other = createFeatureStore(
      { pool, logger, metrics: createMetrics(), tracer: trace.getTracer('test') },
      { breakerErrorPercent: 50, breakerVolumeThreshold: 5, breakerResetMs: 1_000 },
    );
    await expect(other.start(new Set(['tenure_months', 'shoe_size']))).rejects.toThrow(
      /models use features missing from feature_registry: shoe_size/,
    );
    other.close();
  });
});

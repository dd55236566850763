import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { closePool, createPool } from '../../server/src/db/pool.js';
import {
  createFeatureStore,
  type FeatureRows,
  type FeatureStore,
} from '../../server/src/features/feature-store.js';
import type { Priority } from '../../server/src/scheduling/priority.js';
import { WorkScheduler } from '../../server/src/scheduling/work-scheduler.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics } from '../../server/src/telemetry/metrics.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

const name = `test_fs_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
let pool: pg.Pool;
let store: FeatureStore;
/** A lookup through the work scheduler, which owns admission (one query per tick and priority). */
let lookup: (ids: string[], signal: AbortSignal, priority?: Priority) => Promise<FeatureRows>;
let queries = 0;
/** Starts and ends of the feature queries, by their ids: "start 1,2", "end 1,2". */
const events: string[] = [];

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
  // Count the queries the store sends through the (real) pool, and note when each lookup query runs.
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    queries++;
    const ids = (args[0] as { values?: unknown[] }).values?.[0];
    if (!Array.isArray(ids)) return query(...args);
    events.push(`start ${ids.join(',')}`);
    return query(...args).finally(() => events.push(`end ${ids.join(',')}`));
  };
  const metrics = createMetrics();
  store = createFeatureStore(
    { pool, logger, metrics },
    { breakerErrorPercent: 50, breakerVolumeThreshold: 5, breakerResetMs: 1_000 },
  );
  const scheduler = new WorkScheduler(
    { maxBatchRows: 256, maxDelayMicros: 0, maxHoldMs: 60_000, maxBatchQueries: 1 },
    { metrics, features: { store, tracer: trace.getTracer('test') } },
  );
  lookup = (ids, signal, priority = 'online') =>
    scheduler.lookupFeatures(ids, signal, { priority, deadline: undefined });
  await store.start(new Set(['tenure_months', 'spend_12m']));
});
afterAll(async () => {
  store?.close();
  await closePool(pool);
  await dropDatabase(inject('postgresUrl'), name);
});

describe('feature lookups (the work scheduler on the feature store)', () => {
  it('coalesces the lookups of one tick into a single = ANY($1) query', async () => {
    const before = queries;
    const signal = new AbortController().signal;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => lookup([String(i + 1), 'missing'], signal)),
    );
    expect(queries - before).toBe(1);
    const tenure = store.columns.indexOf('tenure_months');
    for (const [i, rows] of results.entries()) {
      expect(rows.get(String(i + 1))?.[tenure]).toBeGreaterThanOrEqual(0);
      expect(rows.has('missing')).toBe(false);
    }
  });

  it('keeps online lookups out of batch queries, and runs one batch query at a time', async () => {
    const signal = new AbortController().signal;
    events.length = 0;
    const first = lookup(['1', '2'], signal, 'batch');
    await new Promise((resolve) => setImmediate(resolve)); // its query is running now
    const later = [lookup(['3'], signal, 'batch'), lookup(['4'], signal, 'batch')];
    const online = lookup(['31'], signal);
    const rows = await Promise.all([first, ...later, online]);
    expect(rows.map((found) => [...found.keys()].sort())).toEqual([
      ['1', '2'],
      ['3', '4'],
      ['3', '4'],
      ['31'],
    ]);
    // The online lookup had a query of its own; the batch ids that came while a batch query ran waited for
    // it to end (maxBatchQueries 1) and then went out together.
    expect(events).toContain('start 31');
    expect(events.filter((event) => event.startsWith('start'))).toHaveLength(3);
    expect(events.indexOf('end 1,2')).toBeLessThan(events.indexOf('start 3,4'));
  });

  it('lets an aborted caller go at once while the others get their rows', async () => {
    const aborted = new AbortController();
    const abandoned = lookup(['1'], aborted.signal);
    const kept = lookup(['2'], new AbortController().signal);
    aborted.abort(new DOMException('client went away', 'AbortError'));
    await expect(abandoned).rejects.toThrow('client went away');
    expect((await kept).has('2')).toBe(true);
  });

  it('refuses to start when a model needs an unregistered feature', async () => {
    const other = createFeatureStore(
      { pool, logger, metrics: createMetrics() },
      { breakerErrorPercent: 50, breakerVolumeThreshold: 5, breakerResetMs: 1_000 },
    );
    await expect(other.start(new Set(['tenure_months', 'shoe_size']))).rejects.toThrow(
      /models use features missing from feature_registry: shoe_size/,
    );
    other.close();
  });
});

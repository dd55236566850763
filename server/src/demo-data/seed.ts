import type pg from 'pg';
import { withTransaction } from '../db/transaction.js';
import type { Logger } from '../telemetry/logger.js';
import { generateCustomers } from './customer-generator.js';
import { CUSTOMER_FEATURES } from './feature-catalog.js';
import { POPULATION_SEED } from './population-seed.js';

/** The date the synthetic labels are observed at (labels describe the 12 months that follow). */
export const LABELS_OBSERVED_AT = '2026-11-01';

/** Rows per INSERT: big enough to amortise round trips, small enough to keep parameters modest. */
const ROWS_PER_STATEMENT = 5_000;

/** Options for {@link seedCustomers} and {@link seedIfEmpty}. */
export interface SeedOptions {
  pool: Pick<pg.Pool, 'connect'>;
  /** Customers to insert (ids 1..count). */
  count: number;
  logger: Logger;
  /** Generator seed. @default POPULATION_SEED */
  seed?: number;
}

const featureColumns = CUSTOMER_FEATURES.map((feature) => feature.name);
const insertFeatures = `INSERT INTO customer_features (customer_id, ${featureColumns.join(', ')})
  SELECT * FROM unnest($1::text[], ${featureColumns.map((_, i) => `$${i + 2}::float8[]`).join(', ')})`;
const insertLabels = `INSERT INTO customer_labels (customer_id, churned, revenue_12m, observed_at)
  SELECT id, churned, revenue, $4::date FROM unnest($1::text[], $2::bool[], $3::float8[]) AS t(id, churned, revenue)`;

/**
 * Seeds the synthetic population — features and ground-truth labels — unless `customer_features` already
 * has rows: the quick start's embedded database, the tests, `npm run seed`. Several processes may call it
 * at once: an advisory lock serialises them and only the first one inserts.
 *
 * @returns the number of customers inserted (0 when the table was not empty).
 */
export async function seedIfEmpty(options: SeedOptions): Promise<number> {
  return withTransaction(options.pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('customer-intelligence:seed'))");
    const { rows } = await client.query<{ seeded: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM customer_features) AS seeded',
    );
    if (rows[0]?.seeded || options.count === 0) return 0;
    const started = performance.now();
    await insertPopulation(client, options);
    options.logger.info(
      { customers: options.count, ms: Math.round(performance.now() - started) },
      'seeded synthetic customers',
    );
    return options.count;
  });
}

async function insertPopulation(client: pg.PoolClient, options: SeedOptions): Promise<void> {
  const customers = generateCustomers({ seed: options.seed ?? POPULATION_SEED, count: options.count });
  let batch = [...take(customers, ROWS_PER_STATEMENT)];
  while (batch.length > 0) {
    const ids = batch.map((customer) => customer.customerId);
    const columns = featureColumns.map((_, column) => batch.map((customer) => customer.features[column]));
    await client.query(insertFeatures, [ids, ...columns]);
    await client.query(insertLabels, [
      ids,
      batch.map((customer) => customer.truth.churned),
      batch.map((customer) => customer.truth.revenue12m),
      LABELS_OBSERVED_AT,
    ]);
    batch = [...take(customers, ROWS_PER_STATEMENT)];
  }
}

function* take<T>(iterator: Iterator<T>, count: number): Generator<T> {
  for (let i = 0; i < count; i++) {
    const next = iterator.next();
    if (next.done) return;
    yield next.value;
  }
}

import { createHash } from 'node:crypto';
import type pg from 'pg';
import { isHoldoutCustomer } from '../synthetic/holdout-split.js';
import { CUSTOMER_FEATURES } from '../../../server/src/demo-data/feature-catalog.js';
import type { LabelledCustomer, TrainingDataset } from '../training/training-dataset.js';

/** A training dataset read from the feature store, with what was left out. */
export interface TrainingSnapshot {
  readonly dataset: TrainingDataset;
  /** Labels observed on or before this day were used (`YYYY-MM-DD`). */
  readonly asOf: string;
  /** Labelled customers left out because a feature is NULL (unknown). */
  readonly skippedIncomplete: number;
}

const featureColumns = CUSTOMER_FEATURES.map((feature) => feature.name);

/**
 * Builds a training snapshot from Postgres: every customer with a label observed on or before `asOf`
 * (`customer_labels.observed_at`) joined with its features, in id order, split into train and holdout by
 * {@link isHoldoutCustomer} (a hash of the id: the same customers are held out whatever else changes, so a
 * candidate and the champion are compared on customers neither was fitted on when both came from this
 * store). Customers with an unknown feature are skipped and counted.
 *
 * The snapshot id names the cut-off, the row count and a hash of the rows, e.g.
 * `feature-store:labels<=2026-11-29:customers=100000:sha256=1f2e3d4c5b6a`; it goes into the manifests.
 */
export async function loadTrainingSnapshot(pool: pg.Pool, asOf: string): Promise<TrainingSnapshot> {
  const { rows } = await pool.query<Record<string, number | string | boolean | null>>(
    `SELECT f.customer_id, ${featureColumns.map((name) => `f.${name}`).join(', ')}, l.churned, l.revenue_12m
     FROM customer_labels l JOIN customer_features f USING (customer_id)
     WHERE l.observed_at <= $1::date
     ORDER BY f.customer_id`,
    [asOf],
  );
  const hash = createHash('sha256');
  const train: LabelledCustomer[] = [];
  const holdout: LabelledCustomer[] = [];
  let skippedIncomplete = 0;
  for (const row of rows) {
    const features = featureColumns.map((name) => row[name]);
    if (features.some((value) => typeof value !== 'number')) {
      skippedIncomplete++;
      continue;
    }
    const customer: LabelledCustomer = {
      customerId: String(row.customer_id),
      features: features as number[],
      churned: row.churned === true,
      revenue12m: Number(row.revenue_12m),
    };
    hash.update(
      `${customer.customerId}\t${customer.features.join(',')}\t${customer.churned}\t${customer.revenue12m}\n`,
    );
    (isHoldoutCustomer(customer.customerId) ? holdout : train).push(customer);
  }
  const customers = train.length + holdout.length;
  return {
    dataset: {
      snapshotId: `feature-store:labels<=${asOf}:customers=${customers}:sha256=${hash.digest('hex').slice(0, 12)}`,
      train,
      holdout,
    },
    asOf,
    skippedIncomplete,
  };
}

import type { LabelledCustomer, TrainingDataset } from '../training/training-dataset.js';
import { generateCustomers } from '../../../server/src/demo-data/customer-generator.js';
import { DEFAULT_HOLDOUT_FRACTION, isHoldoutCustomer } from './holdout-split.js';

/** Options of {@link syntheticDataset}. */
export interface SyntheticDatasetOptions {
  /** Population seed. */
  readonly seed: number;
  /** Customers `1..customers` are generated and split. */
  readonly customers: number;
  /** Share of customers in the holdout. @default {@link DEFAULT_HOLDOUT_FRACTION} */
  readonly holdoutFraction?: number;
}

/**
 * A training dataset of synthetic customers `1..customers`, split by {@link isHoldoutCustomer}, with the ground
 * truth attached and snapshot id `synthetic:seed=<seed>:customers=<customers>`.
 */
export function syntheticDataset(options: SyntheticDatasetOptions): TrainingDataset {
  const { seed, customers, holdoutFraction = DEFAULT_HOLDOUT_FRACTION } = options;
  const train: LabelledCustomer[] = [];
  const holdout: LabelledCustomer[] = [];
  for (const customer of generateCustomers({ seed, count: customers })) {
    const row: LabelledCustomer = {
      customerId: customer.customerId,
      features: customer.features,
      churned: customer.truth.churned,
      revenue12m: customer.truth.revenue12m,
      truth: {
        churnProbability: customer.truth.churnProbability,
        expectedRevenue12m: customer.truth.expectedRevenue12m,
      },
    };
    (isHoldoutCustomer(customer.customerId, holdoutFraction) ? holdout : train).push(row);
  }
  return { snapshotId: `synthetic:seed=${seed}:customers=${customers}`, train, holdout };
}

/** One customer row to train or evaluate on, wherever it came from (synthetic generator, feature store). */
export interface LabelledCustomer {
  /** The customer id as stored. */
  readonly customerId: string;
  /** Feature values in `CUSTOMER_FEATURES` order. */
  readonly features: readonly number[];
  /** Churned within the 12 months after the features were taken. */
  readonly churned: boolean;
  /** Revenue over the 12 months after the features were taken (currency, ≥ 0). */
  readonly revenue12m: number;
  /**
   * The known ground truth behind the labels (synthetic data only). When every holdout row has it, the
   * trainers also report `ceiling_*` metrics.
   */
  readonly truth?: {
    /** True P(churn within 12 months). */
    readonly churnProbability: number;
    /** True E[revenue over the next 12 months] (currency). */
    readonly expectedRevenue12m: number;
  };
}

/** Training and holdout rows plus the id of the data they were taken from. */
export interface TrainingDataset {
  /** Identifies the data, e.g. `synthetic:seed=20261129:customers=60000`; copied into the manifests. */
  readonly snapshotId: string;
  /** Rows the models are fitted on (also the source of means and reference distributions). */
  readonly train: readonly LabelledCustomer[];
  /** Rows the metrics are computed on; the first few become the manifests' warm-up rows. */
  readonly holdout: readonly LabelledCustomer[];
}

/** The ground truth of every row of `rows`, or undefined when any row lacks it. */
export function groundTruthOf(
  rows: readonly LabelledCustomer[],
): NonNullable<LabelledCustomer['truth']>[] | undefined {
  const truths = rows.flatMap((row) => (row.truth ? [row.truth] : []));
  return truths.length === rows.length ? truths : undefined;
}

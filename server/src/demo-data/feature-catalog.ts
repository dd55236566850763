/** One model input feature: its column name, meaning and unit (copied into every model manifest). */
export interface FeatureDefinition {
  /** Column name in the feature store and in the manifest (`snake_case`). */
  readonly name: string;
  /** What the value means, for humans. */
  readonly description: string;
  /** Unit of the value, e.g. `months`, `currency`, `count`. */
  readonly unit: string;
}

/**
 * The customer features, in ONNX input column order (also the feature-store column names).
 *
 * Changing the order or the set is a breaking change for every model trained on it.
 */
export const CUSTOMER_FEATURES = [
  { name: 'tenure_months', description: 'Months since signup (0 to 72).', unit: 'months' },
  { name: 'plan_tier', description: 'Plan tier: 0 basic, 1 standard, 2 premium.', unit: 'category' },
  { name: 'monthly_charges', description: 'Current recurring charges per month.', unit: 'currency/month' },
  {
    name: 'contract_months',
    description: 'Contract length: 0 month-to-month, 12 or 24 months.',
    unit: 'months',
  },
  { name: 'autopay', description: '1 if paying by automatic payment, else 0.', unit: 'flag' },
  {
    name: 'usage_trend',
    description: 'Relative change in usage, last 30 days versus the previous 90 days (about -1 to +1).',
    unit: 'ratio',
  },
  { name: 'support_tickets_90d', description: 'Support tickets opened in the last 90 days.', unit: 'count' },
  { name: 'payment_failures_90d', description: 'Failed payments in the last 90 days.', unit: 'count' },
  { name: 'days_since_last_activity', description: 'Recency: days since the last session.', unit: 'days' },
  { name: 'sessions_30d', description: 'Frequency: sessions in the last 30 days.', unit: 'count' },
  {
    name: 'spend_12m',
    description: 'Monetary: trailing 12-month spend including add-ons.',
    unit: 'currency',
  },
] as const satisfies readonly FeatureDefinition[];

/** The name of one customer feature. */
export type CustomerFeatureName = (typeof CUSTOMER_FEATURES)[number]['name'];

/** Column index of each feature in a feature row, e.g. `FEATURE_INDEX.spend_12m === 10`. */
export const FEATURE_INDEX = Object.fromEntries(
  CUSTOMER_FEATURES.map((feature, index) => [feature.name, index]),
) as Readonly<Record<CustomerFeatureName, number>>;

/** One customer's feature values by name. */
export type CustomerFeatureValues = Readonly<Record<CustomerFeatureName, number>>;

/** The values of `values` as a feature row in {@link CUSTOMER_FEATURES} order. */
export function toFeatureRow(values: CustomerFeatureValues): number[] {
  return CUSTOMER_FEATURES.map((feature) => values[feature.name]);
}

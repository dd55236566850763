import type { CustomerFeatureValues } from './feature-catalog.js';

/** Standard deviation of the log of the multiplicative revenue noise (log units). */
export const REVENUE_NOISE_SIGMA = 0.3;

/**
 * The customer's true monthly revenue rate over the next 12 months while still a customer (currency/month).
 *
 * ```text
 * rate = monthly_charges · (1 + addOnRate)
 *      · exp(0.25 · usage_trend + 0.1 · [plan_tier = 2])           momentum and premium upsell
 *      · (1 + 0.3 / (1 + exp(−(sessions_30d − 25) / 4)))            heavy users buy more add-ons (S-curve)
 * ```
 *
 * @param features - The customer's feature values.
 * @param addOnRate - The customer's latent add-on spend as a fraction of recurring charges (≥ 0); it is what
 *   makes `spend_12m` exceed `monthly_charges × months`.
 */
export function trueMonthlyRevenueRate(features: CustomerFeatureValues, addOnRate: number): number {
  const momentum = Math.exp(0.25 * features.usage_trend + (features.plan_tier === 2 ? 0.1 : 0));
  const heavyUse = 1 + 0.3 / (1 + Math.exp(-(features.sessions_30d - 25) / 4));
  return features.monthly_charges * (1 + addOnRate) * momentum * heavyUse;
}

/**
 * The true expected revenue over the next 12 months (currency), the ground truth for CLV.
 *
 * A customer who stays pays 12 months; a churner leaves at a time uniform on (0, 12) months and pays until
 * then (6 months on average). Realised revenue is `rate × monthsPaid × noise` with log-normal noise of mean
 * 1 (`ln noise ~ N(−σ²/2, σ²)`, σ = {@link REVENUE_NOISE_SIGMA}), so
 *
 * ```text
 * E[revenue12m] = rate · (12 − 6 · churnProbability)
 * ```
 *
 * @param monthlyRate - From {@link trueMonthlyRevenueRate} (currency/month).
 * @param churnProbability - The true probability of churn within 12 months.
 */
export function trueExpectedRevenue12m(monthlyRate: number, churnProbability: number): number {
  return monthlyRate * (12 - 6 * churnProbability);
}

import type { CustomerFeatureValues } from './feature-catalog.js';

/**
 * Standard deviation of the unobserved per-customer random effect on the churn logit (logit units).
 *
 * The effect is part of the true probability but of no feature, so even a perfect model of the features
 * ranks customers worse than {@link trueChurnProbability} does.
 */
export const CHURN_LATENT_SD = 0.5;

/**
 * Logit of the true probability that a customer churns within the next 12 months (the ground truth).
 *
 * ```text
 * logit = -1.3
 *       + 2.4 · exp(−tenure_months / 4)                    early-tenure hazard, decays with tenure
 *       − 0.8 · [contract_months = 12] − 1.6 · [contract_months = 24]
 *       − 0.4 · autopay
 *       + 1.2 · [usage_trend < −0.25] + 2.0 · max(0, −0.25 − usage_trend)   threshold on falling usage
 *       + 0.55 · ln(1 + support_tickets_90d)
 *       + 0.2 · payment_failures_90d + 1.0 · payment_failures_90d · (1 − autopay)   interaction
 *       + 0.45 · ln(1 + days_since_last_activity / 7)       recency
 *       − 0.25 · ln(1 + sessions_30d)                      frequency
 *       + 0.02 · (monthly_charges − 60) · (1.5 if plan_tier = 0 else 0.4)   price sensitivity, strongest on basic
 *       + latentEffect                                     unobserved, N(0, CHURN_LATENT_SD²)
 * ```
 *
 * @param features - The customer's feature values.
 * @param latentEffect - The customer's unobserved random effect (logit units).
 */
export function trueChurnLogit(features: CustomerFeatureValues, latentEffect: number): number {
  const usageDrop = features.usage_trend < -0.25 ? 1.2 + 2.0 * (-0.25 - features.usage_trend) : 0;
  const noAutopay = 1 - features.autopay;
  const priceSensitivity = features.plan_tier === 0 ? 1.5 : 0.4;
  return (
    -1.3 +
    2.4 * Math.exp(-features.tenure_months / 4) +
    (features.contract_months === 24 ? -1.6 : features.contract_months === 12 ? -0.8 : 0) -
    0.4 * features.autopay +
    usageDrop +
    0.55 * Math.log1p(features.support_tickets_90d) +
    features.payment_failures_90d * (0.2 + 1.0 * noAutopay) +
    0.45 * Math.log1p(features.days_since_last_activity / 7) -
    0.25 * Math.log1p(features.sessions_30d) +
    0.02 * (features.monthly_charges - 60) * priceSensitivity +
    latentEffect
  );
}

/**
 * The true probability of churn within 12 months: the logistic function of {@link trueChurnLogit}.
 *
 * @returns A probability in (0, 1).
 */
export function trueChurnProbability(features: CustomerFeatureValues, latentEffect: number): number {
  return 1 / (1 + Math.exp(-trueChurnLogit(features, latentEffect)));
}

/**
 * One complete customer's features, as sent inline (`customers[].features`, every feature the models take).
 * Shared by the tests and the bench that only need a valid inline request, so a feature added to the
 * models is added here once.
 */
export const SAMPLE_FEATURES: Readonly<Record<string, number>> = Object.freeze({
  tenure_months: 14,
  plan_tier: 1,
  monthly_charges: 62.5,
  contract_months: 0,
  autopay: 0,
  usage_trend: -0.2,
  support_tickets_90d: 2,
  payment_failures_90d: 1,
  days_since_last_activity: 9,
  sessions_30d: 11,
  spend_12m: 820,
});

/** The requests every bench mode sends, in ghz's JSON form (`{{randomInt a b}}` is ghz templating). */

/** Customers seeded for by-id calls (`BENCH_CUSTOMERS`). */
export const customers = Number(process.env.BENCH_CUSTOMERS ?? 100_000);

export const SCORING = 'proto/customer_intelligence/scoring/v1/scoring.proto';
export const V2 = 'proto/inference/grpc_service.proto';
export const SCORE = 'customer_intelligence.scoring.v1.ScoringService/Score';
export const STREAM = 'customer_intelligence.scoring.v1.ScoringService/ScoreStream';
export const INFER = 'inference.GRPCInferenceService/ModelInfer';

/** One customer's features, as the churn model takes them. */
export const inlineFeatures = {
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
};
export const inlineRequest = { model: 'churn', customers: [{ features: inlineFeatures }], reason_codes: 3 };
export const byIdRequest = {
  model: 'churn',
  customers: [{ customer_id: `{{randomInt 1 ${customers}}}` }],
  reason_codes: 3,
};
export const inferRequest = {
  model_name: 'churn',
  inputs: [
    {
      name: 'features',
      datatype: 'FP32',
      shape: [1, 11],
      contents: { fp32_contents: Object.values(inlineFeatures) },
    },
  ],
};
/** One stream call: 10 chunks × 100 customers by id. */
export const CHUNK = 100;
export const streamRequest = Array.from({ length: 10 }, (_, c) => ({
  chunk_id: String(c),
  model: 'churn',
  customers: Array.from({ length: CHUNK }, () => ({ customer_id: `{{randomInt 1 ${customers}}}` })),
  reason_codes: 3,
}));

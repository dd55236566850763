/** The requests every bench mode sends, in ghz's JSON form (`{{randomInt a b}}` is ghz templating). */

import { ScoreRequest } from '../../gen/customer_intelligence/scoring/v1/scoring.js';
import { SAMPLE_FEATURES } from '../../test/helpers/sample-features.js';

/** Customers seeded for by-id calls (`BENCH_CUSTOMERS`). */
export const customers = Number(process.env.BENCH_CUSTOMERS ?? 100_000);

export const SCORING = 'proto/customer_intelligence/scoring/v1/scoring.proto';
export const V2 = 'proto/inference/grpc_service.proto';
export const SCORE = 'customer_intelligence.scoring.v1.ScoringService/Score';
export const STREAM = 'customer_intelligence.scoring.v1.ScoringService/ScoreStream';
export const INFER = 'inference.GRPCInferenceService/ModelInfer';

export const inlineRequest = { model: 'churn', customers: [{ features: SAMPLE_FEATURES }], reason_codes: 3 };
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
      contents: { fp32_contents: Object.values(SAMPLE_FEATURES) },
    },
  ],
};
/** The same row as perf_analyzer sends it (its `--input-data`), in the churn model's column order. */
export const inferRows = [Object.values(SAMPLE_FEATURES)];
/** One stream call: 10 chunks × 100 customers by id. */
export const CHUNK = 100;
export const streamRequest = Array.from({ length: 10 }, (_, c) => ({
  chunk_id: String(c),
  model: 'churn',
  customers: Array.from({ length: CHUNK }, () => ({ customer_id: `{{randomInt 1 ${customers}}}` })),
  reason_codes: 3,
}));

/** The Score requests above as h2load sends them: encoded once (by id: one fixed customer, h2load sends one body). */
export const SCORE_PATH = `/${SCORE}`;
export const inlineMessage = ScoreRequest.encode({
  model: 'churn',
  modelVersion: '',
  customers: [{ customerId: '', features: { ...SAMPLE_FEATURES } }],
  reasonCodes: 3,
}).finish();
export const byIdMessage = ScoreRequest.encode({
  model: 'churn',
  modelVersion: '',
  customers: [{ customerId: '42', features: {} }],
  reasonCodes: 3,
}).finish();

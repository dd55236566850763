import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ghz } from '../helpers/ghz.js';
import { TEMPLATE_CUSTOMERS } from './setup/global-postgres.js';
import { startTestServer, type TestServer } from './setup/test-server.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';

/**
 * The CI smoke run of the load tooling: ghz (the same binary and helper `npm run bench` uses) drives each
 * call shape at a low rate for two seconds, and every call must succeed. Speed is measured by the bench,
 * not here; this catches a server that errs under concurrency, or a bench that no longer talks to it.
 */
const SCORING = 'proto/customer_intelligence/scoring/v1/scoring.proto';
const byId = () => ({ customer_id: `{{randomInt 1 ${TEMPLATE_CUSTOMERS}}}` });

const shapes = [
  {
    name: 'Score with inline features',
    call: 'customer_intelligence.scoring.v1.ScoringService/Score',
    proto: SCORING,
    data: { model: 'churn', customers: [{ features: SAMPLE_FEATURES }], reason_codes: 3 },
  },
  {
    name: 'Score by id (features from Postgres)',
    call: 'customer_intelligence.scoring.v1.ScoringService/Score',
    proto: SCORING,
    data: { model: 'clv', customers: [byId(), byId()], reason_codes: 1 },
  },
  {
    name: 'ScoreStream, 3 chunks of 50 customers per call',
    call: 'customer_intelligence.scoring.v1.ScoringService/ScoreStream',
    proto: SCORING,
    data: [0, 1, 2].map((c) => ({
      chunk_id: String(c),
      model: 'churn',
      customers: Array.from({ length: 50 }, byId),
    })),
  },
  {
    name: 'V2 ModelInfer',
    call: 'inference.GRPCInferenceService/ModelInfer',
    proto: 'proto/inference/grpc_service.proto',
    data: {
      model_name: 'churn',
      inputs: [
        {
          name: 'features',
          datatype: 'FP32',
          shape: [1, 11],
          contents: { fp32_contents: Object.values(SAMPLE_FEATURES) },
        },
      ],
    },
  },
];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

describe('ghz smoke load', () => {
  it.each(shapes)('$name: 200 calls at 100/s from 8 workers, all OK', async (shape) => {
    const result = await ghz({ address: t.address, ...shape, concurrency: 8, total: 200, rps: 100 });
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(200);
    expect(result.p99Ms).toBeGreaterThan(0);
  });
});

import { ClientError, Status, type Metadata } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Customer, ScoreRequest } from '../../client/src/scoring-client.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ MAX_CUSTOMERS_PER_REQUEST: '50', MAX_MESSAGE_BYTES: '65536' });
});
afterAll(() => t?.close());

const fullFeatures = {
  tenure_months: 12,
  plan_tier: 1,
  monthly_charges: 55,
  contract_months: 0,
  autopay: 1,
  usage_trend: -0.1,
  support_tickets_90d: 1,
  payment_failures_90d: 0,
  days_since_last_activity: 3,
  sessions_30d: 20,
  spend_12m: 700,
};

function request(customers: Customer[], overrides: Partial<ScoreRequest> = {}): ScoreRequest {
  return { model: 'churn', modelVersion: '', customers, reasonCodes: 0, ...overrides };
}

/** Calls Score and returns the error it fails with, with the reason trailer. */
async function scoreError(
  req: ScoreRequest,
): Promise<{ code: Status; details: string; reason: string | undefined }> {
  let trailer: Metadata | undefined;
  try {
    await t.client.score(req, { onTrailer: (metadata) => (trailer = metadata) });
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    return { code: error.code, details: error.details, reason: trailer?.get('ci-error-reason') };
  }
  throw new Error('expected the call to fail');
}

describe('bad input gets a clear status naming the problem', () => {
  it.each([
    [
      'unknown model',
      request([{ customerId: '1', features: {} }], { model: 'upsell' }),
      Status.NOT_FOUND,
      /model "upsell" is not served \(served models: churn, clv\)/,
    ],
    [
      'unknown version',
      request([{ customerId: '1', features: {} }], { modelVersion: '9' }),
      Status.NOT_FOUND,
      /model "churn" has no version "9"/,
    ],
    [
      'empty model name',
      request([{ customerId: '1', features: {} }], { model: '' }),
      Status.INVALID_ARGUMENT,
      /^model: required/,
    ],
    ['no customers', request([]), Status.INVALID_ARGUMENT, /^customers: at least one customer/],
    [
      'too many customers',
      request(Array.from({ length: 51 }, (_, i) => ({ customerId: String(i + 1), features: {} }))),
      Status.INVALID_ARGUMENT,
      /^customers: 51 customers, at most 50 .*MAX_CUSTOMERS_PER_REQUEST/,
    ],
    [
      'a customer with nothing set',
      request([{ customerId: '', features: {} }]),
      Status.INVALID_ARGUMENT,
      /^customers\[0\]: set customer_id, features, or both/,
    ],
    [
      'NaN feature',
      request([{ customerId: '1', features: { tenure_months: NaN } }]),
      Status.INVALID_ARGUMENT,
      /^customers\[0\]\.features\.tenure_months: must be a finite number, got NaN/,
    ],
    [
      'infinite feature',
      request([{ customerId: '', features: { ...fullFeatures, spend_12m: Infinity } }]),
      Status.INVALID_ARGUMENT,
      /^customers\[0\]\.features\.spend_12m: must be a finite number, got Infinity/,
    ],
    [
      'unknown feature',
      request([{ customerId: '1', features: { shoe_size: 44 } }]),
      Status.INVALID_ARGUMENT,
      /^customers\[0\]\.features\.shoe_size: unknown feature for model churn@1/,
    ],
    [
      'missing features without an id',
      request([{ customerId: '', features: { tenure_months: 3, plan_tier: 1 } }]),
      Status.INVALID_ARGUMENT,
      /^customers\[0\]\.features: missing monthly_charges, contract_months,/,
    ],
    [
      'malformed customer id',
      request([
        { customerId: '1', features: {} },
        { customerId: "1'; DROP TABLE x;--", features: {} },
      ]),
      Status.INVALID_ARGUMENT,
      /^customers\[1\]\.customer_id: .* does not match/,
    ],
  ])('%s', async (_, req, code, details) => {
    const error = await scoreError(req);
    expect(Status[error.code]).toBe(Status[code]);
    expect(error.details).toMatch(details);
    expect(error.reason).toMatch(/^ERR_/);
  });

  it('rejects a message above MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED', async () => {
    const huge = request([{ customerId: '1', features: { tenure_months: 1 } }]);
    huge.customers[0]!.customerId = 'x'.repeat(70_000);
    const error = await scoreError(huge);
    expect(Status[error.code]).toBe('RESOURCE_EXHAUSTED');
    expect(error.details).toMatch(/message larger than max/i);
  });

  it('answers GetModel for an unknown model with NOT_FOUND and an empty name with INVALID_ARGUMENT', async () => {
    await expect(t.client.getModel({ name: 'nope', version: '' })).rejects.toMatchObject({
      code: Status.NOT_FOUND,
    });
    await expect(t.client.getModel({ name: 'churn', version: '7' })).rejects.toMatchObject({
      code: Status.NOT_FOUND,
    });
    await expect(t.client.getModel({ name: '', version: '' })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^name: required/),
    });
  });

  it('keeps serving after all of the above', async () => {
    const { results } = await t.client.score(request([{ customerId: '', features: fullFeatures }]));
    expect(results[0]?.outcome?.$case).toBe('prediction');
  });
});

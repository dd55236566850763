import { ClientError, Status, type Metadata } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelAdminClient, KillSwitchMode } from '../../client/src/model-admin-client.js';
import { ScoreStreamRequest, type Customer, type ScoreRequest } from '../../client/src/scoring-client.js';
import { MAX_STATUS_DETAILS } from '../../server/src/grpc/wire-error.js';
import { MAX_TEXT_LENGTH } from '../../server/src/services/model-admin-service.js';
import { RawGrpcClient } from '../helpers/raw-grpc-client.js';
import { createV2Client } from '../helpers/v2-client.js';
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

// Each case below was a finding of test/reliability/fuzz.test.ts; the comment says what it did before.
describe('hostile bytes get a status saying what is wrong, never INTERNAL or a stalled connection', () => {
  let raw: RawGrpcClient;
  beforeAll(() => {
    raw = new RawGrpcClient(t.address);
  });
  afterAll(() => raw?.close());

  const rejected = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    if (!(error instanceof ClientError)) throw new Error(`expected a ClientError, got ${String(error)}`);
    return { code: Status[error.code], details: error.details };
  };

  it('answers bytes that are not a ScoreRequest with INVALID_ARGUMENT (was INTERNAL)', async () => {
    // Field 3 (customers) declares 2^32 - 1 bytes and three follow.
    const bytes = Uint8Array.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    const outcome = await raw.unary('/customer_intelligence.scoring.v1.ScoringService/Score', bytes, 10_000);
    expect(Status[outcome.code]).toBe('INVALID_ARGUMENT');
    expect(outcome.details).toMatch(/^request: not a valid request message of .*\/Score \(premature EOF\)/);
  });

  it('ends a ScoreStream at an undecodable chunk with INVALID_ARGUMENT (was INTERNAL)', async () => {
    const chunk = ScoreStreamRequest.encode({
      chunkId: 'a',
      model: 'churn',
      modelVersion: '',
      customers: [{ customerId: '1', features: {} }],
      reasonCodes: 0,
    }).finish();
    const truncated = chunk.subarray(0, 5);
    const outcome = await raw.bidi(
      '/customer_intelligence.scoring.v1.ScoringService/ScoreStream',
      [chunk, truncated],
      10_000,
    );
    expect(Status[outcome.code]).toBe('INVALID_ARGUMENT');
  });

  it('cuts a status message quoting a huge name, and the connection keeps serving (was a stalled call)', async () => {
    // Percent-encoded, 30,000 × "é" is a 180 kB grpc-message trailer: beyond Node's 64 KiB header block,
    // the call never ended and the other calls on its connection stalled with it.
    const name = 'é'.repeat(30_000);
    const [error, models] = await Promise.all([
      rejected(t.client.getModel({ name, version: '' })),
      t.client.listModels({}),
    ]);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.details.length).toBeLessThan(MAX_STATUS_DETAILS + 20);
    expect(models.models.length).toBeGreaterThan(0);
  });

  it('survives a status message cut inside an emoji (was a URIError that crashed the process)', async () => {
    const v2 = createV2Client(t.address);
    try {
      const error = await rejected(
        v2.repositoryModelLoad({ repositoryName: '', modelName: `${'a'.repeat(79)}😀`, parameters: {} }),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect((await v2.serverLive({})).live).toBe(true);
    } finally {
      v2.close();
    }
  });

  it('refuses admin names and reasons with NUL characters with INVALID_ARGUMENT (was INTERNAL from Postgres)', async () => {
    const admin = createModelAdminClient(t.address);
    try {
      await expect(rejected(admin.listModelVersions({ model: 'churn\u0000' }))).resolves.toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: expect.stringMatching(/^model: "churn\\u0000" does not match/),
      });
      await expect(rejected(admin.rollbackModel({ model: '\u0000' }))).resolves.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      const killSwitch = { model: 'churn', mode: KillSwitchMode.KILL_SWITCH_MODE_REFUSE, reason: 'a\u0000b' };
      await expect(rejected(admin.setKillSwitch(killSwitch))).resolves.toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: 'reason: must not contain NUL characters',
      });
      // Bounded: the reason is in every listing and every refused call's status (a fuzzed one was 3 MB).
      const long = { ...killSwitch, reason: 'x'.repeat(MAX_TEXT_LENGTH + 1) };
      await expect(rejected(admin.setKillSwitch(long))).resolves.toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: `reason: ${MAX_TEXT_LENGTH + 1} characters; at most ${MAX_TEXT_LENGTH}`,
      });
      const { model } = await admin.setKillSwitch({
        ...long,
        mode: KillSwitchMode.KILL_SWITCH_MODE_OFF,
        reason: 'x'.repeat(MAX_TEXT_LENGTH),
      });
      expect(model?.killSwitch).toBe(KillSwitchMode.KILL_SWITCH_MODE_OFF);
    } finally {
      admin.close();
    }
  });

  it('answers a reflection request with a lying length with INVALID_ARGUMENT (was 15 s of blocked event loop)', async () => {
    // host = "localhost", then field 1 again declaring a 1.8 GB string that is not there.
    const bytes = Uint8Array.from([
      0x0a,
      0x09,
      ...Buffer.from('localhost'),
      0x0a,
      0xed,
      0xf8,
      0xcc,
      0xd9,
      0x06,
      0x8a,
      0x27,
      0x0c,
    ]);
    const outcome = await raw.bidi(
      '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      [bytes],
      60_000,
    );
    expect(Status[outcome.code]).toBe('INVALID_ARGUMENT');
  });
});

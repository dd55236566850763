import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureSource, type CustomerResult, type Prediction } from '../../client/src/scoring-client.js';
import { CUSTOMER_FEATURES } from '../../server/src/demo-data/feature-catalog.js';
import { generateCustomers } from '../../server/src/demo-data/customer-generator.js';
import { POPULATION_SEED } from '../../server/src/demo-data/population-seed.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

/** The synthetic customer as seeded into the template database, features by name. */
function seededCustomer(id: number): Record<string, number> {
  const [customer] = generateCustomers({ seed: POPULATION_SEED, count: 1, firstId: id });
  return Object.fromEntries(CUSTOMER_FEATURES.map((f, i) => [f.name, customer!.features[i]!]));
}

function prediction(result: CustomerResult | undefined): Prediction {
  if (result?.outcome?.$case !== 'prediction')
    throw new Error(`expected a prediction, got ${JSON.stringify(result)}`);
  return result.outcome.value;
}

describe('Score', () => {
  it('scores a stored customer for churn with a probability and signed reason codes', async () => {
    const { results } = await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [{ customerId: '42', features: {} }],
      reasonCodes: 3,
    });
    expect(results).toHaveLength(1);
    expect(results[0]!.customerId).toBe('42');
    const p = prediction(results[0]);
    expect(p.score).toBeGreaterThan(0);
    expect(p.score).toBeLessThan(1);
    expect(p).toMatchObject({
      model: 'churn',
      modelVersion: '1',
      featureSource: FeatureSource.FEATURE_SOURCE_STORE,
    });
    expect(p.reasonCodes).toHaveLength(3);
    const magnitudes = p.reasonCodes.map((r) => Math.abs(r.contribution));
    expect(magnitudes).toEqual([...magnitudes].sort((a, b) => b - a));
    const stored = seededCustomer(42);
    for (const reason of p.reasonCodes) expect(reason.value).toBeCloseTo(stored[reason.feature]!, 10);
  });

  it('scores a stored customer for CLV in currency', async () => {
    const { results } = await t.client.score({
      model: 'clv',
      modelVersion: '',
      customers: [{ customerId: '7', features: {} }],
      reasonCodes: 2,
    });
    const p = prediction(results[0]);
    expect(p.model).toBe('clv');
    expect(p.score).toBeGreaterThan(0);
    expect(p.score).toBeLessThan(1_000_000);
    expect(p.reasonCodes).toHaveLength(2);
  });

  it('gives the same score for inline features as for the same customer read from the store', async () => {
    const features = seededCustomer(1234);
    const { results } = await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [
        { customerId: '1234', features: {} },
        { customerId: '', features },
      ],
      reasonCodes: 0,
    });
    const [stored, inline] = results.map(prediction);
    expect(inline!.featureSource).toBe(FeatureSource.FEATURE_SOURCE_INLINE);
    expect(inline!.score).toBeCloseTo(stored!.score, 6);
    expect(inline!.reasonCodes).toEqual([]);
  });

  it('lets inline values override stored ones for a by-id customer', async () => {
    const base = await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [{ customerId: '99', features: {} }],
      reasonCodes: 0,
    });
    const overridden = await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [{ customerId: '99', features: { payment_failures_90d: 6, autopay: 0 } }],
      reasonCodes: 11,
    });
    const p = prediction(overridden.results[0]);
    expect(p.featureSource).toBe(FeatureSource.FEATURE_SOURCE_STORE);
    expect(p.score).not.toBeCloseTo(prediction(base.results[0]).score, 6);
    expect(p.reasonCodes.find((r) => r.feature === 'payment_failures_90d')?.value).toBe(6);
    expect(p.reasonCodes).toHaveLength(CUSTOMER_FEATURES.length);
  });

  it('answers an unknown customer with a per-item NOT_FOUND inside an OK response, in request order', async () => {
    const { results } = await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [
        { customerId: '1', features: {} },
        { customerId: 'no-such-customer', features: {} },
        { customerId: '2', features: {} },
      ],
      reasonCodes: 0,
    });
    expect(results.map((r) => r.customerId)).toEqual(['1', 'no-such-customer', '2']);
    expect(results[1]!.outcome).toEqual({
      $case: 'error',
      value: expect.objectContaining({ code: 5, reason: 'ERR_CUSTOMER_NOT_FOUND' }),
    });
    expect(prediction(results[0]).score).toBeGreaterThan(0);
    expect(prediction(results[2]).score).toBeGreaterThan(0);
  });

  it('serves an explicitly pinned version', async () => {
    const { results } = await t.client.score({
      model: 'clv',
      modelVersion: '1',
      customers: [{ customerId: '3', features: {} }],
      reasonCodes: 0,
    });
    expect(prediction(results[0]).modelVersion).toBe('1');
  });

  it('scores a full batch of customers in one call', async () => {
    const customers = Array.from({ length: 1_000 }, (_, i) => ({ customerId: String(i + 1), features: {} }));
    const { results } = await t.client.score({ model: 'churn', modelVersion: '', customers, reasonCodes: 1 });
    expect(results).toHaveLength(1_000);
    const scores = results.map((r) => prediction(r).score);
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    // The synthetic population churns at a realistic base rate; a broken model would not average there.
    expect(mean).toBeGreaterThan(0.05);
    expect(mean).toBeLessThan(0.5);
    // ...and distinct customers get distinct scores, not a constant.
    expect(new Set(scores.map((s) => s.toFixed(4))).size).toBeGreaterThan(500);
  });
});

describe('ListModels and GetModel', () => {
  it('lists both models with signature and holdout metrics', async () => {
    const { models } = await t.client.listModels({});
    expect(models.map((m) => m.name)).toEqual(['churn', 'clv']);
    const churn = models[0]!;
    expect(churn.defaultVersion).toBe('1');
    const version = churn.versions[0]!;
    expect(version.features.map((f) => f.name)).toEqual(CUSTOMER_FEATURES.map((f) => f.name));
    expect(version.metrics.auc).toBeGreaterThan(0.7);
    expect(version.onnxSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(models[1]!.versions[0]!.metrics.rmse).toBeGreaterThan(0);
  });

  it('describes one version', async () => {
    const { model } = await t.client.getModel({ name: 'clv', version: '1' });
    expect(model?.versions.map((v) => v.version)).toEqual(['1']);
    expect(model?.versions[0]?.task).toBe('regression');
  });
});

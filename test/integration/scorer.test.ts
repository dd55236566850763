import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { Status } from 'nice-grpc-common';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { createFeatureStore, type FeatureStore } from '../../server/src/features/feature-store.js';
import { FeatureSource, type CustomerResult } from '../../gen/customer_intelligence/scoring/v1/scoring.js';
import { DriftMonitor } from '../../server/src/inference/drift-monitor.js';
import { ModelCatalog } from '../../server/src/inference/model-catalog.js';
import { OnnxModel } from '../../server/src/inference/onnx-model.js';
import { WorkScheduler } from '../../server/src/scheduling/work-scheduler.js';
import {
  createScorer,
  type Scorer,
  type ScoreInput,
  type ScorePlan,
} from '../../server/src/services/scorer.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics } from '../../server/src/telemetry/metrics.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

/**
 * The scorer on its own, below the gRPC layer: real ONNX sessions, a real feature store on a clone of the
 * test database (customers 1… seeded), the real scheduler. What the wire tests cannot pin cheaply: the
 * error policy of `strict`, the call plan's deadline and priority, inline values over stored ones.
 */
const name = `test_scorer_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
const metrics = createMetrics();
let pool: pg.Pool;
let store: FeatureStore;
let churn: OnnxModel;
let scheduler: WorkScheduler;
let scorer: Scorer;

const online = (deadline?: number): ScorePlan => ({
  signal: new AbortController().signal,
  deadline,
  priority: 'online',
});
const batch: ScorePlan = { signal: new AbortController().signal, deadline: undefined, priority: 'batch' };
const request = (customers: ScoreInput['customers'], reasonCodes = 0): ScoreInput => ({
  model: 'churn',
  modelVersion: '',
  customers,
  reasonCodes,
});
const outcome = (result: CustomerResult) => result.outcome!;
/** ONNX Runtime runs so far, from the batch-size histogram. */
const runs = async () =>
  (await metrics.inferenceBatchSize.get()).values
    .filter((v) => v.metricName?.endsWith('_count'))
    .reduce((sum, v) => sum + v.value, 0);

beforeAll(async () => {
  const url = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), name);
  pool = createPool({
    connectionString: url,
    max: 4,
    connectTimeoutMs: 2_000,
    statementTimeoutMs: 1_000,
    applicationName: 'test',
    logger,
  });
  store = createFeatureStore(
    { pool, logger, metrics },
    { breakerErrorPercent: 50, breakerVolumeThreshold: 5, breakerResetMs: 1_000 },
  );
  churn = await OnnxModel.load('models/churn/1');
  const catalog = new ModelCatalog();
  catalog.set({ name: 'churn', defaultVersion: churn.version, versions: new Map([[churn.version, churn]]) });
  await store.start(catalog.requiredFeatures());
  scheduler = new WorkScheduler(
    { maxBatchRows: 256, maxDelayMicros: 0, maxHoldMs: 60_000 },
    { metrics, features: { store, tracer: trace.getTracer('test') } },
  );
  scorer = createScorer({
    catalog,
    featureStore: store,
    drift: new DriftMonitor(1_000),
    scheduler,
    metrics,
    tracer: trace.getTracer('test'),
    config: {
      maxCustomersPerRequest: 100,
      customerIdPattern: /^[0-9A-Za-z_-]{1,64}$/,
      featureFallback: 'none',
    },
  });
});
afterAll(async () => {
  store?.close();
  await churn?.close();
  await closePool(pool);
  await dropDatabase(inject('postgresUrl'), name);
});

describe('the scorer', () => {
  const mixed = [
    { customerId: '', features: { ...SAMPLE_FEATURES } },
    { customerId: '', features: { ...SAMPLE_FEATURES, tenure_months: Number.NaN } },
    { customerId: 'no-such-customer', features: {} },
  ];

  it('fails a strict call on its first invalid item, naming it', async () => {
    await expect(scorer.score(request(mixed), online(), { strict: true })).rejects.toMatchObject({
      status: Status.INVALID_ARGUMENT,
      reason: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('customers[1].features.tenure_months'),
    });
  });

  it('keeps every failure of a lenient call inside its item, and scores the rest', async () => {
    const results = await scorer.score(request(mixed), batch, { strict: false });
    expect(results.map((result) => outcome(result).$case)).toEqual(['prediction', 'error', 'error']);
    expect(outcome(results[1]!)).toMatchObject({ value: { code: Status.INVALID_ARGUMENT } });
    expect(outcome(results[2]!)).toMatchObject({
      value: { code: Status.NOT_FOUND, reason: 'ERR_CUSTOMER_NOT_FOUND' },
    });
  });

  it('scores by id from the store, inline values winning over stored ones, with the asked reason codes', async () => {
    const [stored, overridden] = await scorer.score(
      request(
        [
          { customerId: '7', features: {} },
          { customerId: '7', features: { payment_failures_90d: 9, days_since_last_activity: 90 } },
        ],
        3,
      ),
      online(),
      { strict: true },
    );
    const a = outcome(stored!);
    const b = outcome(overridden!);
    if (a.$case !== 'prediction' || b.$case !== 'prediction') throw new Error('expected two predictions');
    expect(a.value.featureSource).toBe(FeatureSource.FEATURE_SOURCE_STORE);
    expect(a.value.reasonCodes).toHaveLength(3);
    expect(b.value.score).not.toBe(a.value.score);
    expect(b.value.score).toBeGreaterThan(0);
    expect(b.value.score).toBeLessThan(1);
  });

  it('stops with DEADLINE_EXCEEDED once the plan’s deadline has passed, before running the model', async () => {
    const runsBefore = await runs();
    expect(runsBefore).toBeGreaterThan(0); // the tests before ran the model
    await expect(
      scorer.score(request([{ customerId: '3', features: {} }]), online(Date.now() - 1), { strict: true }),
    ).rejects.toMatchObject({ status: Status.DEADLINE_EXCEEDED, reason: 'ERR_DEADLINE_EXCEEDED' });
    expect(await runs()).toBe(runsBefore);
  });

  it('lets batch work wait while online work runs, whatever the error policy', async () => {
    let finishOnline!: () => void;
    const onlineWork = scheduler.execute(
      'online',
      () => new Promise<void>((resolve) => (finishOnline = resolve)),
    );
    let batchDone = false;
    const batchCall = scorer
      .score(request([{ customerId: '', features: { ...SAMPLE_FEATURES } }]), batch, { strict: true })
      .then(() => (batchDone = true));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(batchDone).toBe(false);
    finishOnline();
    await Promise.all([onlineWork, batchCall]);
    expect(batchDone).toBe(true);
  });
});

import { Status } from 'nice-grpc-common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCustomers } from '../../server/src/demo-data/customer-generator.js';
import { POPULATION_SEED } from '../../server/src/demo-data/population-seed.js';
import { InferenceBatcher } from '../../server/src/inference/inference-batcher.js';
import { OnnxModel } from '../../server/src/inference/onnx-model.js';
import { createMetrics, type Metrics } from '../../server/src/telemetry/metrics.js';

let churn: OnnxModel;
beforeAll(async () => {
  churn = await OnnxModel.load('models/churn/1');
});
afterAll(() => churn?.close());

const rows = (first: number, count: number) =>
  Float32Array.from(
    [...generateCustomers({ seed: POPULATION_SEED, count, firstId: first })].flatMap((c) => c.features),
  );

/** Row counts of every ONNX Runtime run so far, from the batch-size histogram. */
async function runs(metrics: Metrics): Promise<{ count: number; rows: number }> {
  const histogram = (await metrics.inferenceBatchSize.get()).values;
  const total = (suffix: string) =>
    histogram.filter((v) => v.metricName?.endsWith(suffix)).reduce((sum, v) => sum + v.value, 0);
  return { count: total('_count'), rows: total('_sum') };
}

describe('InferenceBatcher', () => {
  it('scores concurrent requests in one run, with the same results as alone', async () => {
    const metrics = createMetrics();
    const batcher = new InferenceBatcher({ maxBatchRows: 256, maxDelayMicros: 0 }, metrics);
    const inputs = [rows(1, 1), rows(2, 3), rows(5, 2)];
    const together = await Promise.all(
      inputs.map((input) => batcher.infer(churn, input, input.length / 11, 'online')),
    );
    expect(await runs(metrics)).toEqual({ count: 1, rows: 6 });
    for (const [i, input] of inputs.entries()) {
      const alone = await churn.predict(input, input.length / 11);
      expect([...together[i]!.scores]).toEqual([...alone.scores]);
      expect([...together[i]!.contributions!]).toEqual([...alone.contributions!]);
    }
  });

  it('splits a large batch request across runs of at most maxBatchRows', async () => {
    const metrics = createMetrics();
    const batcher = new InferenceBatcher({ maxBatchRows: 100, maxDelayMicros: 0 }, metrics);
    const big = await batcher.infer(churn, rows(1, 250), 250, 'batch');
    expect(await runs(metrics)).toEqual({ count: 3, rows: 250 }); // 100, 100, 50
    const alone = await churn.predict(rows(1, 250), 250);
    expect([...big.scores]).toEqual([...alone.scores]);
    expect([...big.contributions!]).toEqual([...alone.contributions!]);
  });

  it('scores an online call while a batch run of the same version is still running', async () => {
    const metrics = createMetrics();
    const batcher = new InferenceBatcher({ maxBatchRows: 256, maxDelayMicros: 0 }, metrics);
    let release!: () => void;
    const batchRunHeld = new Promise<void>((resolve) => (release = resolve));
    // The real model, except that runs of more than one row wait until the test lets them finish.
    const model = Object.create(churn, {
      predict: {
        value: async (input: Float32Array, count: number) => {
          if (count > 1) await batchRunHeld;
          return churn.predict(input, count);
        },
      },
    }) as OnnxModel;
    let batchDone = false;
    const batch = batcher.infer(model, rows(1, 50), 50, 'batch').then((p) => ((batchDone = true), p));
    await new Promise((resolve) => setImmediate(resolve)); // the batch run has started
    const online = await batcher.infer(model, rows(300, 1), 1, 'online');
    expect(batchDone).toBe(false);
    expect([...online.scores]).toEqual([...(await churn.predict(rows(300, 1), 1)).scores]);
    release();
    expect((await batch).scores).toHaveLength(50);
    expect(await runs(metrics)).toEqual({ count: 2, rows: 51 });
  });

  it('does not delay a lone request and keeps one model version per run', async () => {
    const metrics = createMetrics();
    const batcher = new InferenceBatcher({ maxBatchRows: 8, maxDelayMicros: 0 }, metrics);
    const clv = await OnnxModel.load('models/clv/1');
    try {
      await Promise.all([
        batcher.infer(churn, rows(1, 1), 1, 'online'),
        batcher.infer(clv, rows(1, 1), 1, 'online'),
      ]);
      expect((await runs(metrics)).count).toBe(2);
    } finally {
      await clv.close();
    }
  });

  it('answers a request whose deadline passed while it was queued without scoring it', async () => {
    const metrics = createMetrics();
    const batcher = new InferenceBatcher({ maxBatchRows: 256, maxDelayMicros: 0 }, metrics);
    const late = batcher.infer(churn, rows(1, 2), 2, 'online', Date.now() - 1).catch((e: unknown) => e);
    const onTime = batcher.infer(churn, rows(3, 1), 1, 'online', Date.now() + 60_000);
    expect(await late).toMatchObject({ status: Status.DEADLINE_EXCEEDED, reason: 'ERR_DEADLINE_EXCEEDED' });
    expect((await onTime).scores).toHaveLength(1);
    expect(await runs(metrics)).toEqual({ count: 1, rows: 1 });
    expect((await metrics.executedAfterDeadline.get()).values[0]?.value ?? 0).toBe(0);
  });
});

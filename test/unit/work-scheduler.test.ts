import { Status } from 'nice-grpc-common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxModel } from '../../server/src/inference/onnx-model.js';
import { WorkScheduler } from '../../server/src/scheduling/work-scheduler.js';
import { createMetrics, type Metrics } from '../../server/src/telemetry/metrics.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';

/** Resolves after the event loop's next check phase. */
const nextIteration = () => new Promise((resolve) => setImmediate(resolve));

const scheduler = (maxHoldMs: number, metrics = createMetrics()) =>
  new WorkScheduler({ maxBatchRows: 256, maxDelayMicros: 0, maxHoldMs }, { metrics });

/** Online work that runs until the returned function is called. */
function onlineWork(on: WorkScheduler): () => void {
  let finish!: () => void;
  void on.execute('online', () => new Promise<void>((resolve) => (finish = resolve)));
  return () => finish();
}

describe('WorkScheduler turns', () => {
  it('gives one batch turn per event-loop iteration, in the order they were asked for', async () => {
    const on = scheduler(1_000);
    const order: string[] = [];
    for (const step of ['a', 'b', 'c']) void on.yieldToOnline().then(() => order.push(step));
    await nextIteration();
    expect(order).toEqual(['a']);
    await nextIteration();
    expect(order).toEqual(['a', 'b']);
    await nextIteration();
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('holds batch turns while online work runs and gives them when the last of it ends', async () => {
    const on = scheduler(60_000);
    const first = onlineWork(on);
    const second = onlineWork(on);
    let turned = false;
    void on.yieldToOnline().then(() => (turned = true));
    for (let i = 0; i < 5; i++) await nextIteration();
    first();
    for (let i = 0; i < 5; i++) await nextIteration();
    expect(turned).toBe(false);
    second();
    for (let i = 0; i < 3; i++) await nextIteration();
    expect(turned).toBe(true);
  });

  it('counts online work as ended when it fails, too', async () => {
    const on = scheduler(60_000);
    await expect(on.execute('online', () => Promise.reject(new Error('bad item')))).rejects.toThrow(
      'bad item',
    );
    let turned = false;
    void on.yieldToOnline().then(() => (turned = true));
    for (let i = 0; i < 3; i++) await nextIteration();
    expect(turned).toBe(true);
  });

  it('does not hold anything back for batch work', async () => {
    const on = scheduler(60_000);
    let finish!: () => void;
    void on.execute('batch', () => new Promise<void>((resolve) => (finish = resolve)));
    let turned = false;
    void on.yieldToOnline().then(() => (turned = true));
    for (let i = 0; i < 3; i++) await nextIteration();
    expect(turned).toBe(true);
    finish();
  });

  it('gives a turn after maxHoldMs even while online work keeps running', async () => {
    const on = scheduler(20);
    const finish = onlineWork(on);
    try {
      await on.yieldToOnline(); // would never resolve without the bound: the online work is still running
    } finally {
      finish();
    }
  });
});

describe('WorkScheduler V2 runs', () => {
  let churn: OnnxModel;
  beforeAll(async () => {
    churn = await OnnxModel.load('models/churn/1');
  });
  afterAll(() => churn?.close());

  const input = () => {
    const data = Float32Array.from(churn.featureNames, (name) => SAMPLE_FEATURES[name]!);
    return { data, dims: [1, churn.featureNames.length] };
  };
  const outputs = () => churn.tensorOutputs.map((output) => output.name);
  const runs = async (metrics: Metrics) =>
    (await metrics.inferenceBatchSize.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;

  it('runs a request and counts it in the same inference metrics as micro-batched runs', async () => {
    const metrics = createMetrics();
    const on = scheduler(60_000, metrics);
    const result = await on.run(churn, input(), outputs(), { priority: 'online', deadline: undefined });
    expect(Object.keys(result).sort()).toEqual([...outputs()].sort());
    expect(await runs(metrics)).toBe(1);
  });

  it('refuses a request whose deadline passed before its run, without running it', async () => {
    const metrics = createMetrics();
    const on = scheduler(60_000, metrics);
    const late = on.run(churn, input(), outputs(), { priority: 'batch', deadline: Date.now() - 1 });
    await expect(late).rejects.toMatchObject({
      status: Status.DEADLINE_EXCEEDED,
      reason: 'ERR_DEADLINE_EXCEEDED',
    });
    expect(await runs(metrics)).toBe(0);
  });

  it('makes a batch request wait for its turn while online work runs', async () => {
    const on = scheduler(60_000);
    const finish = onlineWork(on);
    let ran = false;
    const batch = on
      .run(churn, input(), outputs(), { priority: 'batch', deadline: undefined })
      .then(() => (ran = true));
    for (let i = 0; i < 5; i++) await nextIteration();
    expect(ran).toBe(false);
    finish();
    await batch;
    expect(ran).toBe(true);
  });
});

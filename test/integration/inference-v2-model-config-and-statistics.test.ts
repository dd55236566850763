import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, ModelInstanceGroup_Kind } from '../../gen/inference/model_config.js';
import { scrapeMetrics } from '../helpers/metrics-scrape.js';
import { perfAnalyzer } from '../helpers/perf-analyzer.js';
import { createV2Client, featuresRequest, type V2Client } from '../helpers/v2-client.js';
import { featureRowsIn, statusWithDetailsOf as statusOf } from '../helpers/v2-scoring.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// Triton's ModelConfig and ModelStatistics on the Open Inference Protocol (V2) service, against the real
// server, and Triton's own benchmarking client, perf_analyzer (compiled, from PyPI: scripts/tools.sh
// perf_analyzer), which reads ModelMetadata and ModelConfig before it sends ModelInfer load and reports
// ModelStatistics as its server-side figures. The batch limit is set away from its default so that the
// configuration is seen to follow it. Only the perf_analyzer test sends load to churn; the statistics test
// uses clv.
let t: TestServer;
let v2: V2Client;

beforeAll(async () => {
  t = await startTestServer({ MAX_CUSTOMERS_PER_REQUEST: '64' });
  v2 = createV2Client(t.address);
});
afterAll(async () => {
  v2?.close();
  await t?.close();
});

/** A model's feature names, in its input's column order. */
async function columnsOf(name: string): Promise<string[]> {
  const { model } = await t.client.getModel({ name, version: '' });
  return model!.versions[0]!.features.map((feature) => feature.name);
}
const churnColumns = () => columnsOf('churn');

describe('Open Inference Protocol: ModelConfig', () => {
  it("is Triton's configuration of the served signature: ONNX, batching, tensors, versions", async () => {
    const features = (await churnColumns()).length;
    expect(await v2.modelConfig({ name: 'churn', version: '' })).toEqual({
      config: {
        name: 'churn',
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        versionPolicy: { policyChoice: { $case: 'specific', value: { versions: [1] } } },
        maxBatchSize: 64,
        input: [{ name: 'features', dataType: DataType.TYPE_FP32, dims: [features] }],
        output: [
          { name: 'churn_probability', dataType: DataType.TYPE_FP32, dims: [1], reshape: undefined },
          { name: 'contributions', dataType: DataType.TYPE_FP32, dims: [features], reshape: undefined },
        ],
        instanceGroup: [{ name: 'churn_0', count: 1, kind: ModelInstanceGroup_Kind.KIND_CPU }],
        // Triton's default scheduler: every V2 request is its own run.
        schedulingChoice: undefined,
      },
    });
  });

  it("describes every model's tensors as ModelMetadata does, less the batch dimension", async () => {
    for (const [name, version] of [
      ['churn', ''],
      ['clv', '1'],
    ] as const) {
      const metadata = await v2.modelMetadata({ name, version });
      const { config } = await v2.modelConfig({ name, version });
      const tensors = (list: ReadonlyArray<{ name: string; dataType: DataType; dims: number[] }>) =>
        list.map((tensor) => ({
          name: tensor.name,
          datatype: DataType[tensor.dataType].replace(/^TYPE_/, ''),
          shape: [-1, ...tensor.dims],
        }));
      expect(config!.name).toBe(metadata.name);
      expect(config!.platform).toBe(metadata.platform);
      expect(tensors(config!.input)).toEqual(metadata.inputs);
      expect(tensors(config!.output)).toEqual(metadata.outputs);
    }
  });

  it('answers NOT_FOUND for an unknown model or version, and INVALID_ARGUMENT without a name', async () => {
    expect(await statusOf(v2.modelConfig({ name: 'nope', version: '' }))).toMatchObject({
      code: 'NOT_FOUND',
      details: expect.stringContaining('"nope"'),
    });
    expect(await statusOf(v2.modelConfig({ name: 'churn', version: '9' }))).toMatchObject({
      code: 'NOT_FOUND',
      details: expect.stringContaining('no version "9"'),
    });
    expect(await statusOf(v2.modelConfig({ name: '', version: '' }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('Open Inference Protocol: ModelStatistics', () => {
  it("counts each version's V2 requests: successes, failures, rows, runs and where the time went", async () => {
    const rows = featureRowsIn(await columnsOf('clv'), [1, 2, 3, 4, 5]);
    const since = Date.now();
    for (let i = 0; i < 3; i++) await v2.modelInfer(featuresRequest('clv', rows.slice(0, 2)));
    await v2.modelInfer(featuresRequest('clv', rows, { raw: true }));
    const bad = featuresRequest('clv', [rows[0]!.slice(1)]);
    expect((await statusOf(v2.modelInfer(bad))).code).toBe('INVALID_ARGUMENT');

    const { modelStats } = await v2.modelStatistics({ name: 'clv', version: '1' });
    expect(modelStats).toHaveLength(1);
    const [clv] = modelStats;
    expect(clv).toMatchObject({ name: 'clv', version: '1', inferenceCount: 11, executionCount: 4 });
    expect(clv!.lastInference).toBeGreaterThanOrEqual(since);
    expect(clv!.lastInference).toBeLessThanOrEqual(Date.now());
    const stats = clv!.inferenceStats!;
    const { success, fail, queue, computeInput, computeInfer, computeOutput } = stats;
    expect([success, fail].map((d) => d?.count)).toEqual([4, 1]);
    expect([queue, computeInput, computeInfer, computeOutput].map((d) => d?.count)).toEqual([4, 4, 4, 4]);
    // Durations are measured: a run and a request take time, and the stages fit in the requests' time.
    expect(computeInfer!.ns).toBeGreaterThan(0);
    expect(fail!.ns).toBeGreaterThan(0);
    const stages = queue!.ns + computeInput!.ns + computeInfer!.ns + computeOutput!.ns;
    expect(stages).toBeLessThanOrEqual(success!.ns);
    expect(clv!.batchStats.map((b) => [b.batchSize, b.computeInfer!.count])).toEqual([
      [2, 3],
      [5, 1],
    ]);
  });

  it('lists every loaded version of every model, and answers NOT_FOUND for an unknown one', async () => {
    const all = await v2.modelStatistics({ name: '', version: '' });
    expect(all.modelStats.map((m) => `${m.name}@${m.version}`)).toEqual(['churn@1', 'clv@1']);
    expect(await statusOf(v2.modelStatistics({ name: 'nope', version: '' }))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await statusOf(v2.modelStatistics({ name: 'churn', version: '9' }))).toMatchObject({
      code: 'NOT_FOUND',
      details: expect.stringContaining('no version "9"'),
    });
  });
});

describe("Triton's perf_analyzer against the V2 endpoint", () => {
  it('reads the configuration and completes concurrency 1 to 4 with zero errors', async () => {
    const rows = featureRowsIn(await churnColumns(), [1, 2, 3, 4, 5]);
    const before = await scrapeMetrics(t.server.metricsPort!);
    const successes = async () => {
      const { modelStats } = await v2.modelStatistics({ name: 'churn', version: '' });
      const stats = modelStats[0]!.inferenceStats!;
      return { success: stats.success!.count, fail: stats.fail!.count };
    };
    const statsBefore = await successes();
    // Short windows, and stability so wide that three windows always settle it: the test is that the run
    // completes without an error on a shared machine; the figures are the bench's (bench/modes/perf).
    const result = await perfAnalyzer({
      address: t.address,
      model: 'churn',
      concurrency: [1, 4],
      rows,
      measurementMs: 300,
      stabilityPercent: 1000,
      maxTrials: 5,
    });
    expect(
      result.levels.map((level) => level.concurrency),
      result.stdout,
    ).toEqual([1, 2, 3, 4]);
    for (const level of result.levels) {
      expect(level.inferencesPerSecond).toBeGreaterThan(0);
      expect(level.requests).toBeGreaterThan(0);
    }

    // The server's side: it was asked for the configuration, and answered every ModelInfer call OK.
    const after = await scrapeMetrics(t.server.metricsPort!);
    const handled = (method: string, code?: string) =>
      after.sum('grpc_server_handled_total', { grpc_method: method, ...(code ? { grpc_code: code } : {}) }) -
      before.sum('grpc_server_handled_total', { grpc_method: method, ...(code ? { grpc_code: code } : {}) });
    expect(handled('ModelConfig', 'OK')).toBeGreaterThanOrEqual(1);
    const measured = result.levels.reduce((total, level) => total + level.requests, 0);
    expect(handled('ModelInfer', 'OK')).toBeGreaterThanOrEqual(measured);
    expect(handled('ModelInfer')).toBe(handled('ModelInfer', 'OK'));
    // ModelStatistics counted the same calls, and perf_analyzer read them for its server-side report.
    const statsAfter = await successes();
    expect(statsAfter.success - statsBefore.success).toBe(handled('ModelInfer', 'OK'));
    expect(statsAfter.fail - statsBefore.fail).toBe(0);
    for (const level of result.levels) expect(level.server?.computeInferMicros).toBeGreaterThan(0);
  }, 120_000);
});

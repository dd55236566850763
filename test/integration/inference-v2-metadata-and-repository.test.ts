import { readFile } from 'node:fs/promises';
import { ClientError, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealthClient, ServingStatus, type HealthClient } from '../helpers/health-client.js';
import { featuresRequest, fp32Output, type V2Client } from '../helpers/v2-client.js';
import { expectClose, inlineScoresOf, statusWithDetailsOf as statusOf } from '../helpers/v2-scoring.js';
import type { TestServer } from './setup/test-server.js';
import { startV2Server, type V2Server } from './setup/v2-server.js';

// The Open Inference Protocol (V2) against the real server: server and model metadata, and the model repository
// extension over the model registry (unload and load), with ModelReady and grpc.health.v1 agreeing. Through a
// client built from the generated `inference.GRPCInferenceService` definition; the registry is seeded from a copy
// of `models/`.
let server: V2Server;
let t: TestServer;
let v2: V2Client;
let health: HealthClient;
let churnFeatures: readonly string[];
/** Seeded customers' features, in the churn model's column order. */
let featureRows: (ids: number[]) => number[][];

beforeAll(async () => {
  server = await startV2Server();
  ({ t, v2, churnFeatures, featureRows } = server);
  health = createHealthClient(t.address);
});
afterAll(async () => {
  health?.close();
  await server?.close();
});

/** The ScoringService's scores for the same rows sent as inline features. */
const inlineScores = (model: string, rows: number[][]) =>
  inlineScoresOf(t.client, churnFeatures, model, rows);

/** Health Check status name for a service ("" when the service is unknown: NOT_FOUND). */
async function healthOf(service: string): Promise<string> {
  try {
    return ServingStatus[(await health.check({ service })).status];
  } catch (error) {
    if (error instanceof ClientError && error.code === Status.NOT_FOUND) return 'UNKNOWN';
    throw error;
  }
}

describe('Open Inference Protocol: server and model metadata', () => {
  it('is live and ready, and names itself with its extensions (repository, configuration, statistics)', async () => {
    expect(await v2.serverLive({})).toEqual({ live: true });
    expect(await v2.serverReady({})).toEqual({ ready: true });
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect(await v2.serverMetadata({})).toEqual({
      name: 'customer-intelligence',
      version: pkg.version,
      extensions: ['model_repository', 'model_configuration', 'statistics'],
    });
    expect(await healthOf('inference.GRPCInferenceService')).toBe('SERVING');
  });

  it('describes a model: FP32 features [-1, F] in, its output tensors out', async () => {
    expect(await v2.modelMetadata({ name: 'churn', version: '' })).toEqual({
      name: 'churn',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, churnFeatures.length] }],
      outputs: [
        { name: 'churn_probability', datatype: 'FP32', shape: [-1, 1] },
        { name: 'contributions', datatype: 'FP32', shape: [-1, churnFeatures.length] },
      ],
    });
    expect((await v2.modelMetadata({ name: 'clv', version: '1' })).outputs.map((o) => o.name)).toEqual([
      'clv',
      'contributions',
    ]);
  });

  it('answers NOT_FOUND for an unknown model or version, and ModelReady false', async () => {
    expect(await statusOf(v2.modelMetadata({ name: 'nope', version: '' }))).toMatchObject({
      code: 'NOT_FOUND',
      details: expect.stringContaining('"nope"'),
    });
    expect(await statusOf(v2.modelMetadata({ name: 'churn', version: '9' }))).toMatchObject({
      code: 'NOT_FOUND',
      details: expect.stringContaining('no version "9"'),
    });
    expect(await statusOf(v2.modelInfer(featuresRequest('nope', featureRows([1]))))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(
      await statusOf(v2.modelInfer(featuresRequest('churn', featureRows([1]), { version: '9' }))),
    ).toMatchObject({ code: 'NOT_FOUND' });
    expect(await v2.modelReady({ name: 'nope', version: '' })).toEqual({ ready: false });
    expect(await v2.modelReady({ name: 'churn', version: '9' })).toEqual({ ready: false });
    expect(await v2.modelReady({ name: 'churn', version: '1' })).toEqual({ ready: true });
  });
});

describe('Open Inference Protocol: model repository (over the model registry)', () => {
  /** ModelReady and grpc.health.v1 for one model, side by side. */
  async function readiness(name: string) {
    return { modelReady: (await v2.modelReady({ name, version: '' })).ready, health: await healthOf(name) };
  }

  it('unloads and reloads a model, with ModelReady and health agreeing at every step', async () => {
    expect(await v2.repositoryIndex({ repositoryName: '', ready: false })).toEqual({
      models: [
        { name: 'churn', version: '1', state: 'READY', reason: '' },
        { name: 'clv', version: '1', state: 'READY', reason: '' },
      ],
    });
    expect(await readiness('clv')).toEqual({ modelReady: true, health: 'SERVING' });
    expect(await readiness('never-served')).toEqual({ modelReady: false, health: 'UNKNOWN' });

    // Unload switches the model off in the registry (on every replica): calls get UNAVAILABLE.
    await v2.repositoryModelUnload({ repositoryName: '', modelName: 'clv', parameters: {} });
    expect(await readiness('clv')).toEqual({ modelReady: false, health: 'NOT_SERVING' });
    expect(await readiness('churn')).toEqual({ modelReady: true, health: 'SERVING' });
    expect(await statusOf(v2.modelInfer(featuresRequest('clv', featureRows([1]))))).toMatchObject({
      code: 'UNAVAILABLE',
      details: 'model "clv" is switched off: unloaded with RepositoryModelUnload',
    });
    expect((await v2.repositoryIndex({ repositoryName: '', ready: false })).models).toContainEqual({
      name: 'clv',
      version: '1',
      state: 'UNAVAILABLE',
      reason: 'switched off: unloaded with RepositoryModelUnload',
    });
    expect((await v2.repositoryIndex({ repositoryName: '', ready: true })).models.map((m) => m.name)).toEqual(
      ['churn'],
    );
    // Unloading again changes nothing.
    await v2.repositoryModelUnload({ repositoryName: '', modelName: 'clv', parameters: {} });

    await v2.repositoryModelLoad({ repositoryName: '', modelName: 'clv', parameters: {} });
    expect(await readiness('clv')).toEqual({ modelReady: true, health: 'SERVING' });
    const rows = featureRows([21]);
    expectClose(
      fp32Output(await v2.modelInfer(featuresRequest('clv', rows)), 'clv'),
      await inlineScores('clv', rows),
    );
  });

  it('reloads a served model in place: it keeps serving the same scores', async () => {
    const rows = featureRows([30, 31]);
    const before = fp32Output(await v2.modelInfer(featuresRequest('churn', rows)), 'churn_probability');
    await v2.repositoryModelLoad({ repositoryName: '', modelName: 'churn', parameters: {} });
    expect(await readiness('churn')).toEqual({ modelReady: true, health: 'SERVING' });
    expectClose(fp32Output(await v2.modelInfer(featuresRequest('churn', rows)), 'churn_probability'), before);
  });

  it('refuses what it cannot load and keeps serving what it served', async () => {
    const load = (modelName: string, parameters = {}) =>
      statusOf(v2.repositoryModelLoad({ repositoryName: '', modelName, parameters }));
    expect(await load('nope')).toMatchObject({
      code: 'NOT_FOUND',
      details: expect.stringContaining('model "nope" is not served'),
    });
    expect(await load('../models')).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(
      await load('churn', { config: { parameterChoice: { $case: 'stringParam', value: '{}' } } }),
    ).toEqual({
      code: 'INVALID_ARGUMENT',
      details:
        'parameters.config: not supported: models are registered through ModelAdminService (npm run model -- register)',
    });
    expect(await readiness('churn')).toEqual({ modelReady: true, health: 'SERVING' });
  });
});

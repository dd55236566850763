import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeModelArtifact } from '../../batch/src/artifacts/model-artifact.js';
import { syntheticDataset } from '../../batch/src/synthetic/synthetic-dataset.js';
import { trainChurnTreesModel } from '../../batch/src/trainers/churn-trees-trainer.js';
import { trainClvTreesModel } from '../../batch/src/trainers/clv-trees-trainer.js';
import {
  predictBoosted,
  type GradientBoostedTreesModel,
} from '../../batch/src/training/gradient-boosted-trees.js';
import { treeContributions } from '../../batch/src/training/tree-contributions.js';
import type { Prediction } from '../../client/src/scoring-client.js';
import { CUSTOMER_FEATURES } from '../../server/src/demo-data/feature-catalog.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// A model repository with the bundled (linear) version 1 of each model and a tree-family version 2 trained
// on a small synthetic population: the server must load, warm and serve the trees like any other version.
const dataset = syntheticDataset({ seed: 11, customers: 6_000 });
const churn = trainChurnTreesModel(dataset, { version: '2' });
const clv = trainClvTreesModel(dataset, { version: '2' });
const row = CUSTOMER_FEATURES.map((feature) => SAMPLE_FEATURES[feature.name]!);

let tmp: string;
let t: TestServer;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ci-tree-models-'));
  const repository = path.join(tmp, 'models');
  await cp(path.resolve(import.meta.dirname, '../../models'), repository, { recursive: true });
  await writeModelArtifact(repository, churn.artifact);
  await writeModelArtifact(repository, clv.artifact);
  t = await startTestServer({ MODEL_REPOSITORY_DIR: repository });
});
afterAll(async () => {
  await t?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function scoreInline(model: string, version: string): Promise<Prediction> {
  const { results } = await t.client.score({
    model,
    modelVersion: version,
    customers: [{ customerId: '', features: SAMPLE_FEATURES }],
    reasonCodes: 3,
  });
  const outcome = results[0]?.outcome;
  if (outcome?.$case !== 'prediction')
    throw new Error(`expected a prediction, got ${JSON.stringify(outcome)}`);
  return outcome.value;
}

/** The three largest contributions of the TypeScript model, largest |value| first. */
function expectedReasonCodes(model: GradientBoostedTreesModel) {
  return treeContributions(model, row)
    .map((contribution, j) => ({ feature: CUSTOMER_FEATURES[j]!.name, contribution, value: row[j]! }))
    .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
    .slice(0, 3);
}

describe('a tree-family model version', () => {
  it('serves churn@2 (gradient-boosted trees) with the probability and reason codes of the trained model', async () => {
    const prediction = await scoreInline('churn', '2');
    expect(prediction).toMatchObject({ model: 'churn', modelVersion: '2' });
    expect(Math.abs(prediction.score - predictBoosted(churn.model, row))).toBeLessThan(1e-5);
    const expected = expectedReasonCodes(churn.model);
    expect(prediction.reasonCodes.map((code) => code.feature)).toEqual(expected.map((code) => code.feature));
    for (const [k, code] of prediction.reasonCodes.entries()) {
      expect(Math.abs(code.contribution - expected[k]!.contribution)).toBeLessThan(1e-5);
      expect(code.value).toBeCloseTo(expected[k]!.value, 5);
    }
  });

  it('serves clv@2 with the trained model prediction (currency) and currency reason codes', async () => {
    const prediction = await scoreInline('clv', '2');
    expect(prediction).toMatchObject({ model: 'clv', modelVersion: '2' });
    const expected = predictBoosted(clv.model, row);
    expect(Math.abs(prediction.score - expected) / expected).toBeLessThan(1e-5);
    expect(prediction.reasonCodes.map((code) => code.feature)).toEqual(
      expectedReasonCodes(clv.model).map((code) => code.feature),
    );
  });

  it('is listed next to the linear version 1 with its own metrics', async () => {
    const { models } = await t.client.listModels({});
    const versions = models.find((model) => model.name === 'churn')?.versions ?? [];
    expect(versions.map((version) => version.version)).toEqual(expect.arrayContaining(['1', '2']));
    const trees = versions.find((version) => version.version === '2');
    expect(trees?.metrics).toEqual(churn.artifact.manifest.metrics);
    expect(trees?.onnxSha256).toBe(churn.artifact.manifest.onnx.sha256);
  });
});

import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../../batch/src/artifacts/model-artifact.js';
import { syntheticDataset } from '../../batch/src/synthetic/synthetic-dataset.js';
import { trainChurnModel, type ChurnTrainingResult } from '../../batch/src/trainers/churn-trainer.js';
import { trainClvModel, type ClvTrainingResult } from '../../batch/src/trainers/clv-trainer.js';
import { contributions } from '../../batch/src/training/linear-model.js';
import { predictProbability } from '../../batch/src/training/logistic-regression.js';
import { predictAmount } from '../../batch/src/training/ridge-regression.js';

// A smaller population than `npm run train` keeps this file fast; the graph is the same.
const dataset = syntheticDataset({ seed: 11, customers: 6_000 });
const rows = dataset.holdout.slice(0, 500).map((row) => row.features);

interface OnnxOutputs {
  score: Float32Array;
  contributions: Float32Array;
  scoreDims: readonly number[];
  contributionDims: readonly number[];
}

async function runOnnx(artifact: ModelArtifact): Promise<OnnxOutputs> {
  const session = await InferenceSession.create(artifact.onnx);
  try {
    const { manifest } = artifact;
    const input = new Tensor('float32', Float32Array.from(rows.flat()), [
      rows.length,
      manifest.features.length,
    ]);
    const outputs = await session.run({ [manifest.input.name]: input });
    const score = outputs[manifest.outputs.score.name]!;
    const contribution = outputs[manifest.outputs.contributions!.name]!;
    return {
      score: score.data as Float32Array,
      contributions: contribution.data as Float32Array,
      scoreDims: score.dims,
      contributionDims: contribution.dims,
    };
  } finally {
    await session.release();
  }
}

function expectContributionsMatch(onnx: OnnxOutputs, expected: (row: readonly number[]) => number[]): void {
  const width = rows[0]!.length;
  expect(onnx.contributionDims).toEqual([rows.length, width]);
  let worst = 0;
  for (const [i, row] of rows.entries()) {
    for (const [j, value] of expected(row).entries()) {
      worst = Math.max(worst, Math.abs(onnx.contributions[i * width + j]! - value));
    }
  }
  expect(worst).toBeLessThan(1e-5);
}

describe('churn model exported to ONNX', () => {
  let trained: ChurnTrainingResult;
  let onnx: OnnxOutputs;
  beforeAll(async () => {
    trained = trainChurnModel(dataset);
    onnx = await runOnnx(trained.artifact);
  });

  it('scores holdout rows like the TypeScript model (absolute 1e-5)', () => {
    expect(onnx.scoreDims).toEqual([rows.length, 1]);
    const worst = Math.max(
      ...rows.map((row, i) => Math.abs(onnx.score[i]! - predictProbability(trained.model, row))),
    );
    expect(worst).toBeLessThan(1e-5);
  });

  it('outputs per-feature logit contributions like the TypeScript model (absolute 1e-5)', () => {
    expectContributionsMatch(onnx, (row) => contributions(trained.model, row));
  });
});

describe('clv model exported to ONNX', () => {
  let trained: ClvTrainingResult;
  let onnx: OnnxOutputs;
  beforeAll(async () => {
    trained = trainClvModel(dataset);
    onnx = await runOnnx(trained.artifact);
  });

  it('predicts holdout revenue like the TypeScript model (relative 1e-5)', () => {
    expect(onnx.scoreDims).toEqual([rows.length, 1]);
    const worst = Math.max(
      ...rows.map((row, i) => {
        const expected = predictAmount(trained.model, row);
        return Math.abs(onnx.score[i]! - expected) / Math.max(expected, 1);
      }),
    );
    expect(worst).toBeLessThan(1e-5);
  });

  it('outputs per-feature log1p contributions like the TypeScript model (absolute 1e-5)', () => {
    expectContributionsMatch(onnx, (row) => contributions(trained.model, row));
  });
});

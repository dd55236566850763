import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../../batch/src/artifacts/model-artifact.js';
import { onnx as onnxProto } from '../../batch/src/onnx/onnx-proto.js';
import { syntheticDataset } from '../../batch/src/synthetic/synthetic-dataset.js';
import {
  CHURN_TREES_OPTIONS,
  trainChurnTreesModel,
  type ChurnTreesTrainingResult,
} from '../../batch/src/trainers/churn-trees-trainer.js';
import { trainChurnModel } from '../../batch/src/trainers/churn-trainer.js';
import {
  CLV_TREES_OPTIONS,
  trainClvTreesModel,
  type ClvTreesTrainingResult,
} from '../../batch/src/trainers/clv-trees-trainer.js';
import {
  fitGradientBoostedTrees,
  predictBoosted,
  predictMargin,
} from '../../batch/src/training/gradient-boosted-trees.js';
import { exportTreeEnsemble } from '../../batch/src/onnx/tree-ensemble-exporter.js';
import { contributionBias, treeContributions } from '../../batch/src/training/tree-contributions.js';

// A smaller population than `npm run train` keeps this file fast; the graph is the same. Every holdout
// row is scored (about 1,200).
const dataset = syntheticDataset({ seed: 11, customers: 6_000 });
const rows = dataset.holdout.map((row) => row.features);
const width = rows[0]!.length;

interface OnnxOutputs {
  score: Float32Array;
  contributions: Float32Array;
  scoreDims: readonly number[];
  contributionDims: readonly number[];
  outputNames: readonly string[];
}

async function runOnnx(artifact: ModelArtifact): Promise<OnnxOutputs> {
  const session = await InferenceSession.create(artifact.onnx);
  try {
    const { manifest } = artifact;
    const input = new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]);
    const outputs = await session.run({ [manifest.input.name]: input });
    const score = outputs[manifest.outputs.score.name]!;
    const contribution = outputs[manifest.outputs.contributions!.name]!;
    return {
      score: score.data as Float32Array,
      contributions: contribution.data as Float32Array,
      scoreDims: score.dims,
      contributionDims: contribution.dims,
      outputNames: session.outputNames,
    };
  } finally {
    await session.release();
  }
}

/** The largest difference over all rows and features, each divided by `scale(row)`. */
function worstContributionError(
  onnx: OnnxOutputs,
  expected: (row: readonly number[]) => number[],
  scale: (i: number) => number = () => 1,
): number {
  let worst = 0;
  for (const [i, row] of rows.entries()) {
    for (const [j, value] of expected(row).entries()) {
      worst = Math.max(worst, Math.abs(onnx.contributions[i * width + j]! - value) / scale(i));
    }
  }
  return worst;
}

describe('churn gradient-boosted trees exported to ONNX (TreeEnsembleClassifier)', () => {
  let trained: ChurnTreesTrainingResult;
  let onnx: OnnxOutputs;
  beforeAll(async () => {
    trained = trainChurnTreesModel(dataset);
    onnx = await runOnnx(trained.artifact);
  });

  it('has the signature of the linear churn model: the same input and outputs', async () => {
    const linear = trainChurnModel(dataset).artifact;
    const session = await InferenceSession.create(linear.onnx);
    try {
      expect(onnx.outputNames).toEqual(session.outputNames);
    } finally {
      await session.release();
    }
    expect(trained.artifact.manifest.input).toEqual(linear.manifest.input);
    expect(trained.artifact.manifest.outputs).toEqual(linear.manifest.outputs);
    expect(onnx.scoreDims).toEqual([rows.length, 1]);
    expect(onnx.contributionDims).toEqual([rows.length, width]);
  });

  it('uses the ai.onnx.ml tree ensemble operators', () => {
    const model = onnxProto.ModelProto.decode(trained.artifact.onnx);
    expect(model.opsetImport.map((opset) => [opset.domain, Number(opset.version)])).toEqual([
      ['', 13],
      ['ai.onnx.ml', 3],
    ]);
    expect((model.graph?.node ?? []).map((node) => `${node.domain || 'ai.onnx'}.${node.opType}`)).toEqual([
      'ai.onnx.ml.TreeEnsembleClassifier',
      'ai.onnx.Slice',
      'ai.onnx.ml.TreeEnsembleRegressor',
    ]);
  });

  it('scores every holdout row like the TypeScript model (absolute 1e-5)', () => {
    const worst = Math.max(
      ...rows.map((row, i) => Math.abs(onnx.score[i]! - predictBoosted(trained.model, row))),
    );
    expect(worst).toBeLessThan(1e-5);
  });

  it('outputs per-feature logit contributions like the TypeScript model (absolute 1e-5)', () => {
    expect(worstContributionError(onnx, (row) => treeContributions(trained.model, row))).toBeLessThan(1e-5);
  });

  it('has contributions that add up, with the bias, to the logit of the served probability', () => {
    const bias = contributionBias(trained.model);
    expect(trained.artifact.manifest.training.contributionBias).toBe(bias);
    let worst = 0;
    for (const [i, row] of rows.entries()) {
      const sum = treeContributions(trained.model, row).reduce((total, value) => total + value, bias);
      expect(Math.abs(sum - predictMargin(trained.model, row))).toBeLessThan(1e-9);
      const onnxSum = onnx.contributions
        .subarray(i * width, (i + 1) * width)
        .reduce((total, value) => total + value, bias);
      const p = onnx.score[i]!;
      worst = Math.max(worst, Math.abs(onnxSum - Math.log(p / (1 - p))));
    }
    // The logit of a float32 probability: a float32 step of p near 0.5 is ~6e-8, ~2.4e-7 in logit.
    expect(worst).toBeLessThan(1e-4);
  });

  it('records the algorithm and every hyper-parameter in the manifest', () => {
    const { loss, ...hyperParameters } = CHURN_TREES_OPTIONS;
    expect(trained.artifact.manifest.training).toMatchObject({
      algorithm: 'gradient-boosted-trees',
      loss,
      hyperParameters,
      trees: CHURN_TREES_OPTIONS.rounds,
    });
  });

  it('is deterministic: training again gives the same ONNX bytes', () => {
    const again = trainChurnTreesModel(dataset).artifact;
    expect(Buffer.from(again.onnx).equals(Buffer.from(trained.artifact.onnx))).toBe(true);
    expect(again.manifest).toEqual(trained.artifact.manifest);
  });
});

describe('CLV gradient-boosted trees exported to ONNX (TreeEnsembleRegressor)', () => {
  let trained: ClvTreesTrainingResult;
  let onnx: OnnxOutputs;
  const scale = (i: number) => Math.max(Math.abs(onnx.score[i]!), 1);
  beforeAll(async () => {
    trained = trainClvTreesModel(dataset);
    onnx = await runOnnx(trained.artifact);
  });

  it('has the [batch, 1] score and [batch, features] contributions of every served version', () => {
    expect(onnx.outputNames).toEqual(['clv', 'contributions']);
    expect(onnx.scoreDims).toEqual([rows.length, 1]);
    expect(onnx.contributionDims).toEqual([rows.length, width]);
    expect(trained.artifact.manifest.outputs.contributions).toEqual({
      name: 'contributions',
      space: 'currency',
    });
  });

  it('predicts every holdout row like the TypeScript model (relative 1e-5)', () => {
    const worst = Math.max(
      ...rows.map((row, i) => {
        const expected = predictBoosted(trained.model, row);
        return Math.abs(onnx.score[i]! - expected) / Math.max(Math.abs(expected), 1);
      }),
    );
    expect(worst).toBeLessThan(1e-5);
  });

  it('outputs per-feature currency contributions like the TypeScript model (relative 1e-5)', () => {
    expect(worstContributionError(onnx, (row) => treeContributions(trained.model, row), scale)).toBeLessThan(
      1e-5,
    );
  });

  it('has contributions that add up, with the bias, to the served prediction (relative 1e-5)', () => {
    const bias = contributionBias(trained.model);
    let worst = 0;
    for (const i of rows.keys()) {
      const sum = onnx.contributions
        .subarray(i * width, (i + 1) * width)
        .reduce((total, value) => total + value, bias);
      worst = Math.max(worst, Math.abs(sum - onnx.score[i]!) / scale(i));
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('records the algorithm and every hyper-parameter in the manifest', () => {
    const { loss, ...hyperParameters } = CLV_TREES_OPTIONS;
    expect(trained.artifact.manifest.training).toMatchObject({
      algorithm: 'gradient-boosted-trees',
      loss,
      hyperParameters,
    });
  });
});

describe('degenerate tree ensembles still export and serve', () => {
  const few = rows.slice(0, 200);
  const options = { ...CHURN_TREES_OPTIONS, rounds: 5 };

  async function run(bytes: Uint8Array): Promise<{ score: Float32Array; contributions: Float32Array }> {
    const session = await InferenceSession.create(bytes);
    try {
      const input = new Tensor('float32', Float32Array.from(few.flat()), [few.length, width]);
      const outputs = await session.run({ features: input });
      return {
        score: outputs.score!.data as Float32Array,
        contributions: outputs.contributions!.data as Float32Array,
      };
    } finally {
      await session.release();
    }
  }

  it('scores a logistic model whose every leaf is positive (trained on one class) as a margin', async () => {
    const model = fitGradientBoostedTrees(
      few,
      few.map(() => 1),
      options,
    );
    expect(model.trees.every((tree) => tree.value.every((value) => value >= 0))).toBe(true);
    const { score } = await run(exportTreeEnsemble(model, { scoreOutput: 'score', docString: 'one class' }));
    for (const [i, row] of few.entries()) {
      expect(Math.abs(score[i]! - predictBoosted(model, row))).toBeLessThan(1e-5);
    }
  });

  it('exports a model without a split (constant targets) with zero contributions', async () => {
    const model = fitGradientBoostedTrees(
      few,
      few.map(() => 0),
      { ...options, loss: 'squared' },
    );
    expect(model.trees.every((tree) => tree.feature.length === 1)).toBe(true);
    const { score, contributions } = await run(
      exportTreeEnsemble(model, { scoreOutput: 'score', docString: 'constant' }),
    );
    expect([...score]).toEqual(few.map(() => 0));
    expect(contributions.every((value) => value === 0)).toBe(true);
  });
});

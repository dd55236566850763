import { createModelArtifact, type ModelArtifact } from '../artifacts/model-artifact.js';
import { INPUT_NAME, manifestFeatures, manifestWarmupRows } from '../artifacts/manifest-inputs.js';
import { exportTreeEnsemble } from '../onnx/tree-ensemble-exporter.js';
import {
  fitGradientBoostedTrees,
  predictBoosted,
  type GradientBoostedTreesModel,
  type GradientBoostingOptions,
} from '../training/gradient-boosted-trees.js';
import { clvHoldoutMetrics } from './holdout-metrics.js';
import { fitStandardizer } from '../training/standardizer.js';
import type { TrainingDataset } from '../training/training-dataset.js';
import { CLV_SCORE_OUTPUT } from './clv-trainer.js';
import type { TrainerOptions } from './trainer-options.js';
import { treesTrainingSummary } from './trees-training-summary.js';

/**
 * Hyper-parameters of the CLV tree ensemble: the same shape as the churn one (50 depth-3 trees at learning
 * rate 0.2, leaves of at least 50 customers, 64 bins per feature), about a second of CPU on
 * `npm run train`'s 48,000 training customers.
 */
export const CLV_TREES_OPTIONS: GradientBoostingOptions = {
  loss: 'squared',
  rounds: 50,
  learningRate: 0.2,
  maxDepth: 3,
  minLeafRows: 50,
  l2: 1,
  maxBins: 64,
};

/** The fitted CLV tree ensemble, its holdout metrics and its publishable artifact. */
export interface ClvTreesTrainingResult {
  readonly model: GradientBoostedTreesModel;
  /**
   * Holdout metrics: `rmse`, `mae` and (with ground truth) `ceiling_rmse`, `ceiling_mae`, as for the
   * linear CLV model; there is no `rmse_log`, since the trees fit revenue itself, not its logarithm.
   */
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifact: ModelArtifact;
}

/**
 * Trains the `clv` challenger of the tree family: gradient-boosted trees on the squared error of 12-month
 * revenue (currency; a least-squares fit estimates the mean directly, no back-transform), evaluated on the
 * holdout and exported as ONNX (`TreeEnsembleRegressor`) with path contributions in currency, under the
 * same signature as the ridge regression.
 */
export function trainClvTreesModel(
  dataset: TrainingDataset,
  options: TrainerOptions = {},
): ClvTreesTrainingResult {
  const rows = dataset.train.map((row) => row.features);
  const model = fitGradientBoostedTrees(
    rows,
    dataset.train.map((row) => row.revenue12m),
    CLV_TREES_OPTIONS,
  );
  const predictions = dataset.holdout.map((row) => predictBoosted(model, row.features));
  const metrics = clvHoldoutMetrics(predictions, dataset.holdout);

  const onnx = exportTreeEnsemble(model, {
    inputName: INPUT_NAME,
    scoreOutput: CLV_SCORE_OUTPUT,
    docString: 'CLV: gradient-boosted trees (squared error) of 12-month revenue on raw customer features.',
    metadata: [['snapshot_id', dataset.snapshotId]],
  });
  const artifact = createModelArtifact(
    {
      schemaVersion: 1,
      name: 'clv',
      version: options.version ?? '1',
      task: 'regression',
      scoreDescription:
        'Expected revenue from the customer over the next 12 months, in currency (a mean, not a median).',
      features: manifestFeatures(fitStandardizer(rows), dataset),
      input: { name: INPUT_NAME, datatype: 'FP32' },
      outputs: {
        score: { name: CLV_SCORE_OUTPUT, column: 0 },
        contributions: { name: 'contributions', space: 'currency' },
      },
      metrics,
      training: {
        snapshotId: dataset.snapshotId,
        trainRows: dataset.train.length,
        holdoutRows: dataset.holdout.length,
        ...treesTrainingSummary(model),
      },
      warmupRows: manifestWarmupRows(dataset),
    },
    onnx,
  );
  return { model, metrics, artifact };
}

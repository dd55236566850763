import { createModelArtifact, type ModelArtifact } from '../artifacts/model-artifact.js';
import { INPUT_NAME, manifestFeatures, manifestWarmupRows } from '../artifacts/manifest-inputs.js';
import { exportLinearModel } from '../onnx/linear-model-exporter.js';
import { linearPredictor } from '../training/linear-model.js';
import { rmse } from '../training/metrics.js';
import { clvHoldoutMetrics } from './holdout-metrics.js';
import {
  fitLog1pRidgeRegression,
  predictAmount,
  type Log1pRidgeModel,
} from '../training/ridge-regression.js';
import type { TrainingDataset } from '../training/training-dataset.js';
import type { TrainerOptions } from './trainer-options.js';

/** L2 penalty of the CLV ridge regression (see `RidgeRegressionOptions.l2`). */
export const CLV_L2 = 1;

/** Name of the CLV score output: expected revenue over the next 12 months (currency), shape [batch, 1]. */
export const CLV_SCORE_OUTPUT = 'clv';

/** The fitted CLV model, its holdout metrics and its publishable artifact. */
export interface ClvTrainingResult {
  readonly model: Log1pRidgeModel;
  /**
   * Holdout metrics, in manifest order: `rmse` and `mae` of the predicted mean against realised 12-month
   * revenue (currency); `rmse_log`, the RMSE of the linear predictor against `log1p(revenue12m)` (the fitted
   * target, before the smearing correction); and, when the holdout carries ground truth, `ceiling_rmse` and
   * `ceiling_mae` (the same metrics of the true expected revenue: what a perfect model would score).
   */
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifact: ModelArtifact;
}

/**
 * Trains the `clv` model: a ridge regression of `log1p(revenue12m)` on standardised customer
 * features with Duan's smearing back-transform, evaluated on the holdout and exported as ONNX with a manifest.
 */
export function trainClvModel(dataset: TrainingDataset, options: TrainerOptions = {}): ClvTrainingResult {
  const model = fitLog1pRidgeRegression(
    dataset.train.map((row) => row.features),
    dataset.train.map((row) => row.revenue12m),
    { l2: CLV_L2 },
  );
  const predictions = dataset.holdout.map((row) => predictAmount(model, row.features));
  const metrics: Record<string, number> = {
    ...clvHoldoutMetrics(predictions, dataset.holdout),
    rmse_log: rmse(
      dataset.holdout.map((row) => linearPredictor(model, row.features)),
      dataset.holdout.map((row) => Math.log1p(row.revenue12m)),
    ),
  };

  const onnx = exportLinearModel(model, {
    link: { kind: 'expm1', logCorrection: model.logCorrection },
    inputName: INPUT_NAME,
    scoreOutput: CLV_SCORE_OUTPUT,
    docString: 'CLV: ridge regression of log1p(12-month revenue) with smearing back-transform to a mean.',
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
      features: manifestFeatures(model.standardizer, dataset),
      input: { name: INPUT_NAME, datatype: 'FP32' },
      outputs: {
        score: { name: CLV_SCORE_OUTPUT, column: 0 },
        contributions: { name: 'contributions', space: 'log1p' },
      },
      metrics,
      training: {
        snapshotId: dataset.snapshotId,
        trainRows: dataset.train.length,
        holdoutRows: dataset.holdout.length,
        algorithm: 'ridge-regression-log1p-smearing',
        l2: CLV_L2,
        intercept: model.intercept,
        logCorrection: model.logCorrection,
      },
      warmupRows: manifestWarmupRows(dataset),
    },
    onnx,
  );
  return { model, metrics, artifact };
}

import { createModelArtifact, type ModelArtifact } from '../artifacts/model-artifact.js';
import { INPUT_NAME, manifestFeatures, manifestWarmupRows } from '../artifacts/manifest-inputs.js';
import { exportLinearModel } from '../onnx/linear-model-exporter.js';
import {
  fitLogisticRegression,
  predictProbability,
  type LogisticRegressionModel,
} from '../training/logistic-regression.js';
import { churnHoldoutMetrics } from './holdout-metrics.js';
import type { TrainingDataset } from '../training/training-dataset.js';
import type { TrainerOptions } from './trainer-options.js';

/** L2 penalty of the churn logistic regression (see `LogisticRegressionOptions.l2`). */
export const CHURN_L2 = 1;

/** Name of the churn score output: P(churn within 12 months), shape [batch, 1]. */
export const CHURN_SCORE_OUTPUT = 'churn_probability';

/** The fitted churn model, its holdout metrics and its publishable artifact. */
export interface ChurnTrainingResult {
  readonly model: LogisticRegressionModel;
  /**
   * Holdout metrics, in manifest order: `auc`, `log_loss` (nats per row), `base_rate` (share of holdout
   * churners) and, when the holdout carries ground truth, `ceiling_auc` and `ceiling_log_loss` (the same
   * metrics of the true probabilities: what a perfect model would score).
   */
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifact: ModelArtifact;
}

/**
 * Trains the `churn` model: an L2 logistic regression on standardised customer features, evaluated on the
 * holdout and exported as ONNX with a manifest.
 *
 * @throws Error when the holdout has no churner or no non-churner (AUC undefined).
 */
export function trainChurnModel(dataset: TrainingDataset, options: TrainerOptions = {}): ChurnTrainingResult {
  const model = fitLogisticRegression(
    dataset.train.map((row) => row.features),
    dataset.train.map((row) => row.churned),
    { l2: CHURN_L2 },
  );
  const predictions = dataset.holdout.map((row) => predictProbability(model, row.features));
  const metrics = churnHoldoutMetrics(predictions, dataset.holdout);

  const onnx = exportLinearModel(model, {
    link: { kind: 'sigmoid' },
    inputName: INPUT_NAME,
    scoreOutput: CHURN_SCORE_OUTPUT,
    docString: 'Churn: L2 logistic regression on standardised customer features.',
    metadata: [['snapshot_id', dataset.snapshotId]],
  });
  const artifact = createModelArtifact(
    {
      schemaVersion: 1,
      name: 'churn',
      version: options.version ?? '1',
      task: 'binary-classification',
      scoreDescription: 'Probability that the customer churns within the next 12 months (0 to 1).',
      features: manifestFeatures(model.standardizer, dataset),
      input: { name: INPUT_NAME, datatype: 'FP32' },
      outputs: {
        score: { name: CHURN_SCORE_OUTPUT, column: 0 },
        contributions: { name: 'contributions', space: 'logit' },
      },
      metrics,
      training: {
        snapshotId: dataset.snapshotId,
        trainRows: dataset.train.length,
        holdoutRows: dataset.holdout.length,
        algorithm: 'logistic-regression',
        l2: CHURN_L2,
        intercept: model.intercept,
      },
      warmupRows: manifestWarmupRows(dataset),
    },
    onnx,
  );
  return { model, metrics, artifact };
}

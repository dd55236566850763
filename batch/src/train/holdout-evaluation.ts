import ort from 'onnxruntime-node';
import type { ModelArtifact } from '../artifacts/model-artifact.js';
import { FEATURE_INDEX, type CustomerFeatureName } from '../../../server/src/demo-data/feature-catalog.js';
import { auc, logLoss, mae, rmse } from '../training/metrics.js';
import type { LabelledCustomer } from '../training/training-dataset.js';

/** What a model predicts, and so which label and metrics it is judged by. */
export type EvaluationTarget = 'churned' | 'revenue12m';

/** Rows per ONNX Runtime run: bounds the input tensor (rows × features × 4 bytes). */
const ROWS_PER_RUN = 50_000;

/**
 * Scores `holdout` with a model's exported ONNX graph — the bytes that get served, not the trainer's
 * in-memory coefficients — and computes the holdout metrics: `auc` and `log_loss` for `churned`,
 * `rmse` and `mae` (currency) for `revenue12m`. The candidate and the champion go through this same
 * function on the same rows, so their numbers are comparable.
 *
 * @throws Error when the model needs a feature the rows do not have, or its output is missing.
 */
export async function evaluateOnHoldout(
  artifact: ModelArtifact,
  holdout: readonly LabelledCustomer[],
  target: EvaluationTarget,
): Promise<Record<string, number>> {
  const { manifest } = artifact;
  const columns = manifest.features.map((feature) => {
    const index = FEATURE_INDEX[feature.name as CustomerFeatureName] as number | undefined;
    if (index === undefined) {
      throw new Error(
        `${manifest.name}@${manifest.version} needs feature ${feature.name}, which the snapshot lacks`,
      );
    }
    return index;
  });
  const session = await ort.InferenceSession.create(artifact.onnx, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  try {
    const scores = new Float64Array(holdout.length);
    const width = columns.length;
    for (let start = 0; start < holdout.length; start += ROWS_PER_RUN) {
      const rows = holdout.slice(start, start + ROWS_PER_RUN);
      const input = new Float32Array(rows.length * width);
      rows.forEach((row, r) => columns.forEach((index, c) => (input[r * width + c] = row.features[index]!)));
      const outputs = await session.run({
        [manifest.input.name]: new ort.Tensor('float32', input, [rows.length, width]),
      });
      const output = outputs[manifest.outputs.score.name];
      if (output === undefined)
        throw new Error(`${manifest.name}@${manifest.version}: no output ${manifest.outputs.score.name}`);
      const stride = output.dims.length > 1 ? Number(output.dims[1]) : 1;
      const column = manifest.outputs.score.column ?? 0;
      const data = output.data as Float32Array;
      for (let r = 0; r < rows.length; r++) scores[start + r] = data[r * stride + column]!;
    }
    const predictions = Array.from(scores);
    if (target === 'churned') {
      const labels = holdout.map((row) => row.churned);
      return { auc: auc(predictions, labels), log_loss: logLoss(predictions, labels) };
    }
    const actuals = holdout.map((row) => row.revenue12m);
    return { rmse: rmse(predictions, actuals), mae: mae(predictions, actuals) };
  } finally {
    await session.release();
  }
}

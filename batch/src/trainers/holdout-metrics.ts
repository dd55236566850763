import { auc, logLoss, mae, rmse } from '../training/metrics.js';
import { groundTruthOf, type LabelledCustomer } from '../training/training-dataset.js';

/**
 * The holdout metrics every churn trainer records in its manifest, whatever the model family: `auc`,
 * `log_loss`, `base_rate`, and with the synthetic ground truth `ceiling_auc` and `ceiling_log_loss` (the
 * same metrics from the true churn probabilities).
 */
export function churnHoldoutMetrics(
  predictions: readonly number[],
  holdout: readonly LabelledCustomer[],
): Record<string, number> {
  const labels = holdout.map((row) => row.churned);
  const truthProbabilities = groundTruthOf(holdout)?.map((row) => row.churnProbability);
  return {
    auc: auc(predictions, labels),
    log_loss: logLoss(predictions, labels),
    ...(truthProbabilities && {
      ceiling_auc: auc(truthProbabilities, labels),
      ceiling_log_loss: logLoss(truthProbabilities, labels),
    }),
    base_rate: labels.filter(Boolean).length / labels.length,
  };
}

/**
 * The holdout metrics every CLV trainer records: `rmse` and `mae` in currency, and with the ground truth
 * `ceiling_rmse` and `ceiling_mae` (from the expected revenue).
 */
export function clvHoldoutMetrics(
  predictions: readonly number[],
  holdout: readonly LabelledCustomer[],
): Record<string, number> {
  const actuals = holdout.map((row) => row.revenue12m);
  const truthRevenue = groundTruthOf(holdout)?.map((row) => row.expectedRevenue12m);
  return {
    rmse: rmse(predictions, actuals),
    mae: mae(predictions, actuals),
    ...(truthRevenue && {
      ceiling_rmse: rmse(truthRevenue, actuals),
      ceiling_mae: mae(truthRevenue, actuals),
    }),
  };
}

import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { designMatrix, ridgePenalty } from './design-matrix.js';
import { linearPredictor, type LinearModel } from './linear-model.js';
import { fitStandardizer } from './standardizer.js';

/** Options of {@link fitRidgeRegression} and {@link fitLog1pRidgeRegression}. */
export interface RidgeRegressionOptions {
  /**
   * L2 penalty `λ` in the objective `‖y − Xβ‖² + λ · ‖weights‖²` (sum over rows, intercept not penalised),
   * on standardised features.
   * @default 1
   */
  l2?: number;
}

/**
 * Fits a ridge regression on standardised features by solving the normal equations
 * `(XᵀX + λP) β = Xᵀy` with a Cholesky decomposition.
 *
 * @param rows - Raw feature rows (standardised inside, with means/stds from these rows).
 * @param targets - One target per row.
 * @throws Error when `rows` is empty or lengths differ.
 */
export function fitRidgeRegression(
  rows: readonly (readonly number[])[],
  targets: readonly number[],
  options: RidgeRegressionOptions = {},
): LinearModel {
  const { l2 = 1 } = options;
  if (rows.length !== targets.length) throw new Error(`${rows.length} rows but ${targets.length} targets`);
  const standardizer = fitStandardizer(rows);
  const x = designMatrix(standardizer, rows);
  const normal = x.gram().add(ridgePenalty(x.columns, l2));
  const beta = new CholeskyDecomposition(normal).solve(x.transpose().mmul(Matrix.columnVector([...targets])));
  const [intercept = 0, ...weights] = beta.to1DArray();
  return { standardizer, weights, intercept };
}

/**
 * A ridge regression of `log1p(amount)` with the correction that turns its prediction back into a mean amount.
 */
export interface Log1pRidgeModel extends LinearModel {
  /**
   * Duan's smearing correction in log space: `ln(mean_i exp(residual_i))` over the training rows, where
   * `residual_i = log1p(amount_i) − linearPredictor_i`.
   *
   * `exp(linearPredictor)` estimates the conditional *median* of `1 + amount` (for symmetric residuals), which
   * underestimates its mean; multiplying by the mean of the exponentiated residuals estimates the mean without
   * assuming normal residuals. Hence {@link predictAmount}: `max(exp(eta + logCorrection) − 1, 0)`.
   */
  readonly logCorrection: number;
}

/**
 * Fits a ridge regression of `log1p(amount)` (e.g. 12-month revenue) and the smearing correction for the
 * back-transform.
 *
 * @param amounts - Non-negative amounts (currency), one per row.
 * @throws Error when `rows` is empty, lengths differ or an amount is negative.
 */
export function fitLog1pRidgeRegression(
  rows: readonly (readonly number[])[],
  amounts: readonly number[],
  options: RidgeRegressionOptions = {},
): Log1pRidgeModel {
  if (amounts.some((amount) => !(amount >= 0))) throw new Error('amounts must be non-negative numbers');
  const targets = amounts.map((amount) => Math.log1p(amount));
  const linear = fitRidgeRegression(rows, targets, options);
  let smear = 0;
  for (const [i, row] of rows.entries()) smear += Math.exp(targets[i]! - linearPredictor(linear, row));
  return { ...linear, logCorrection: Math.log(smear / rows.length) };
}

/** Predicted mean amount for one raw feature row: `max(exp(eta + logCorrection) − 1, 0)` (currency). */
export function predictAmount(model: Log1pRidgeModel, row: readonly number[]): number {
  return Math.max(Math.exp(linearPredictor(model, row) + model.logCorrection) - 1, 0);
}

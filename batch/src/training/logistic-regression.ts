import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { designMatrix, ridgePenalty } from './design-matrix.js';
import { linearPredictor, type LinearModel } from './linear-model.js';
import { fitStandardizer } from './standardizer.js';

/** Options of {@link fitLogisticRegression}. */
export interface LogisticRegressionOptions {
  /**
   * L2 penalty `λ` in the objective `−logLikelihood + λ/2 · ‖weights‖²` (sum over rows, intercept not
   * penalised), on standardised features.
   * @default 1
   */
  l2?: number;
  /**
   * Newton iterations before giving up.
   * @default 50
   */
  maxIterations?: number;
  /**
   * Converged when no coefficient moves by more than this in one Newton step.
   * @default 1e-10
   */
  tolerance?: number;
}

/** A fitted logistic regression: a {@link LinearModel} whose linear predictor is the logit. */
export interface LogisticRegressionModel extends LinearModel {
  /** Newton iterations used. */
  readonly iterations: number;
}

/**
 * Fits an L2-regularised logistic regression on standardised features by Newton's method (IRLS): each step
 * solves `(XᵀWX + λP) Δ = Xᵀ(y − μ) − λPβ` with a Cholesky decomposition.
 *
 * @param rows - Raw feature rows (standardised inside, with means/stds from these rows).
 * @param labels - One label per row.
 * @throws Error when `rows` is empty, lengths differ, or Newton does not converge within `maxIterations`.
 */
export function fitLogisticRegression(
  rows: readonly (readonly number[])[],
  labels: readonly boolean[],
  options: LogisticRegressionOptions = {},
): LogisticRegressionModel {
  const { l2 = 1, maxIterations = 50, tolerance = 1e-10 } = options;
  if (rows.length !== labels.length) throw new Error(`${rows.length} rows but ${labels.length} labels`);
  const standardizer = fitStandardizer(rows);
  const x = designMatrix(standardizer, rows);
  const y = labels.map((label) => (label ? 1 : 0));
  const penalty = ridgePenalty(x.columns, l2);
  let beta = Matrix.zeros(x.columns, 1);

  for (let iteration = 1; iteration <= maxIterations; iteration += 1) {
    const mu = x.mmul(beta).to1DArray().map(sigmoid);
    // Rows scaled by sqrt(w) so that the Hessian is a Gram matrix: exactly symmetric, as Cholesky requires.
    const rootWeights = mu.map((p) => Math.sqrt(p * (1 - p)));
    const hessian = x.clone().mulColumnVector(rootWeights).gram().add(penalty);
    const residuals = Matrix.columnVector(y.map((label, i) => label - mu[i]!));
    const gradient = x.transpose().mmul(residuals).sub(penalty.mmul(beta));
    const step = new CholeskyDecomposition(hessian).solve(gradient);
    beta = beta.add(step);
    if (Matrix.abs(step).max() <= tolerance) {
      const [intercept = 0, ...weights] = beta.to1DArray();
      return { standardizer, weights, intercept, iterations: iteration };
    }
  }
  throw new Error(`logistic regression did not converge in ${maxIterations} Newton iterations`);
}

/** The predicted probability of the positive class for one raw feature row. */
export function predictProbability(model: LinearModel, row: readonly number[]): number {
  return sigmoid(linearPredictor(model, row));
}

function sigmoid(logit: number): number {
  return 1 / (1 + Math.exp(-logit));
}

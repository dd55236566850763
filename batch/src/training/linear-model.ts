import { standardizeRow, type Standardizer } from './standardizer.js';

/**
 * A linear predictor on standardised features: `eta = intercept + Σ_j weights[j] · z_j` with
 * `z = standardize(x)`. Logistic and ridge regression both produce one.
 */
export interface LinearModel {
  /** Standardisation fitted on the training rows. */
  readonly standardizer: Standardizer;
  /** One weight per standardised feature (target units per training standard deviation). */
  readonly weights: readonly number[];
  /** The prediction for a row equal to the training means. */
  readonly intercept: number;
}

/**
 * Per-feature contributions `weights[j] · z_j` of one row: how far each feature moves the linear predictor away
 * from the prediction at the training means. They add up to `linearPredictor(model, row) − intercept`.
 */
export function contributions(model: LinearModel, row: readonly number[]): number[] {
  return standardizeRow(model.standardizer, row).map((z, j) => z * model.weights[j]!);
}

/** The linear predictor `intercept + Σ_j weights[j] · z_j` of one row. */
export function linearPredictor(model: LinearModel, row: readonly number[]): number {
  return contributions(model, row).reduce((sum, contribution) => sum + contribution, model.intercept);
}

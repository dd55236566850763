import { Matrix } from 'ml-matrix';
import { standardizeRow, type Standardizer } from './standardizer.js';

/**
 * The design matrix of a linear model on standardised features: column 0 is the intercept (all ones),
 * column `j + 1` is standardised feature `j`.
 */
export function designMatrix(standardizer: Standardizer, rows: readonly (readonly number[])[]): Matrix {
  return new Matrix(rows.map((row) => [1, ...standardizeRow(standardizer, row)]));
}

/**
 * The ridge penalty matrix `l2 · diag(0, 1, …, 1)` for a design matrix from {@link designMatrix}: every weight
 * is shrunk, the intercept is not.
 */
export function ridgePenalty(columns: number, l2: number): Matrix {
  const penalty = Matrix.diag(new Array<number>(columns).fill(l2));
  penalty.set(0, 0, 0);
  return penalty;
}

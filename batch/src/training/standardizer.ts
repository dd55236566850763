/**
 * Per-column means and standard deviations fitted on training rows: `z = (x − mean) / std`.
 */
export interface Standardizer {
  /** Column means of the training rows (feature units). */
  readonly means: readonly number[];
  /**
   * Column population standard deviations (divisor n) of the training rows (feature units); a constant
   * column gets 1 so that it standardises to 0 instead of dividing by zero.
   */
  readonly stds: readonly number[];
}

/**
 * Fits a {@link Standardizer} on `rows` (all of the same length).
 *
 * @throws Error when `rows` is empty.
 */
export function fitStandardizer(rows: readonly (readonly number[])[]): Standardizer {
  const first = rows[0];
  if (first === undefined) throw new Error('cannot standardise zero rows');
  const width = first.length;
  const means = new Array<number>(width).fill(0);
  for (const row of rows) for (let j = 0; j < width; j += 1) means[j]! += row[j]!;
  for (let j = 0; j < width; j += 1) means[j]! /= rows.length;
  // Two passes rather than a running sum of squares: the result does not depend on cancellation luck.
  const variances = new Array<number>(width).fill(0);
  for (const row of rows) for (let j = 0; j < width; j += 1) variances[j]! += (row[j]! - means[j]!) ** 2;
  const stds = variances.map((sum) => {
    const std = Math.sqrt(sum / rows.length);
    return std > 0 ? std : 1;
  });
  return { means, stds };
}

/** Standardises one row: `(row[j] − means[j]) / stds[j]`. */
export function standardizeRow(standardizer: Standardizer, row: readonly number[]): number[] {
  return standardizer.means.map((mean, j) => (row[j]! - mean) / standardizer.stds[j]!);
}

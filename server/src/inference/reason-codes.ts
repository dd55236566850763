import type { ReasonCode } from '../../../gen/customer_intelligence/scoring/v1/scoring.js';

/**
 * The `k` largest contributions of one row by absolute value, largest first (ties keep feature order).
 *
 * @param contributions row-major [rows × features] contributions from the model.
 * @param row the row to explain.
 * @param featureNames feature names in column order.
 * @param values the feature values the row was scored with, in column order.
 */
export function topReasonCodes(
  contributions: Float32Array,
  row: number,
  featureNames: readonly string[],
  values: ArrayLike<number>,
  k: number,
): ReasonCode[] {
  const width = featureNames.length;
  const offset = row * width;
  const count = Math.min(k, width);
  // Insertion into the k best so far: k is a handful, and this runs for every scored row.
  const top: number[] = [];
  for (let column = 0; column < width; column++) {
    const magnitude = Math.abs(contributions[offset + column]!);
    let at = top.length;
    while (at > 0 && Math.abs(contributions[offset + top[at - 1]!]!) < magnitude) at--;
    if (at >= count) continue;
    top.splice(at, 0, column);
    if (top.length > count) top.pop();
  }
  return top.map((column) => ({
    feature: featureNames[column]!,
    contribution: contributions[offset + column]!,
    value: values[column]!,
  }));
}

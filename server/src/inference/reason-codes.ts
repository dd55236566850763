import type { ReasonCode } from '../gen/customer_intelligence/scoring/v1/scoring.js';

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
  const order = Array.from({ length: width }, (_, i) => i);
  order.sort((a, b) => Math.abs(contributions[offset + b]!) - Math.abs(contributions[offset + a]!) || a - b);
  return order.slice(0, Math.min(k, width)).map((i) => ({
    feature: featureNames[i]!,
    contribution: contributions[offset + i]!,
    value: values[i]!,
  }));
}

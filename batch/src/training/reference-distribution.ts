/**
 * A binned reference distribution of one feature on the training data, for drift (PSI) checks.
 *
 * Bins are right-closed with open ends: bin 0 is `(−∞, edges[0]]`, bin `i` is `(edges[i−1], edges[i]]`, the
 * last bin is `(edges[last], +∞)`; so `fractions.length === edges.length + 1` and a serving value falls in
 * bin `count of edges < value`. Every bin holds at least one training value (no empty reference bins).
 */
export interface ReferenceDistribution {
  /** Interior cut points, strictly increasing (feature units). */
  readonly edges: number[];
  /** Share of training values in each bin; sums to 1 (up to rounding). */
  readonly fractions: number[];
}

/**
 * Bins `values` at their deciles (or `bins`-quantiles). Repeated quantiles (discrete features such as
 * `plan_tier`) collapse into one edge, and an edge at the maximum is dropped, so discrete features get one bin
 * per distinct value (up to `bins`).
 *
 * @param bins - Target number of quantile bins. @default 10
 * @throws Error when `values` is empty.
 */
export function referenceDistribution(values: readonly number[], bins = 10): ReferenceDistribution {
  if (values.length === 0) throw new Error('no values to bin');
  const sorted = [...values].sort((a, b) => a - b);
  const max = sorted[sorted.length - 1]!;
  const edges: number[] = [];
  for (let k = 1; k < bins; k += 1) {
    // The k/bins quantile as the smallest value with at least that share of values at or below it.
    const edge = sorted[Math.ceil((k * sorted.length) / bins) - 1]!;
    if (edge < max && edge !== edges[edges.length - 1]) edges.push(edge);
  }
  const counts = new Array<number>(edges.length + 1).fill(0);
  let bin = 0;
  for (const value of sorted) {
    while (bin < edges.length && value > edges[bin]!) bin += 1;
    counts[bin]! += 1;
  }
  return { edges, fractions: counts.map((count) => count / sorted.length) };
}

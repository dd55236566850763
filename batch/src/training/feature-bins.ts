/**
 * Per-feature cut points for histogram tree learning: feature `j` of a row falls in bin
 * `count of cuts[j] ≤ fround(x)`, so "bin ≤ s" is exactly "fround(x) < cuts[j][s]".
 *
 * Every cut is a float32 value and rows are compared as float32 (`Math.fround`), as the server feeds them
 * to ONNX Runtime: a tree split `x < cut` then takes the same branch in TypeScript and in the exported
 * `TreeEnsemble*` graph, whatever the rounding of the raw value.
 */
export interface FeatureBins {
  /** Per feature, strictly increasing float32 cut points (at most `maxBins − 1`). */
  readonly cuts: readonly (readonly number[])[];
}

/**
 * Places cut points between distinct training values: between every pair of neighbours when a feature
 * has at most `maxBins` distinct values (discrete features such as `plan_tier` are then split exactly),
 * else at the `k / maxBins` quantiles.
 *
 * @param rows - Raw feature rows, all of the same length.
 * @param maxBins - Most bins per feature, 2 to 256 (bins are stored as bytes). @default 64
 * @throws Error when `rows` is empty or `maxBins` is out of range.
 */
export function fitFeatureBins(rows: readonly (readonly number[])[], maxBins = 64): FeatureBins {
  const width = rows[0]?.length;
  if (width === undefined) throw new Error('cannot bin zero rows');
  if (!Number.isInteger(maxBins) || maxBins < 2 || maxBins > 256) {
    throw new Error(`maxBins: expected an integer from 2 to 256, got ${maxBins}`);
  }
  const cuts: number[][] = [];
  for (let j = 0; j < width; j++) {
    const sorted = Float64Array.from(rows, (row) => Math.fround(row[j]!)).sort();
    const distinct = sorted.filter((value, i) => i === 0 || value !== sorted[i - 1]);
    const uppers: number[] = [];
    if (distinct.length <= maxBins) {
      for (let i = 1; i < distinct.length; i++) uppers.push(i);
    } else {
      for (let k = 1; k < maxBins; k++) {
        // The distinct value at the k/maxBins quantile starts a bin (unless it is the smallest value).
        const index = lowerBound(distinct, sorted[Math.floor((k * sorted.length) / maxBins)]!);
        if (index > 0 && index !== uppers[uppers.length - 1]) uppers.push(index);
      }
    }
    // Half-way between neighbours, rounded up to float32: strictly above the lower one, at most the upper.
    cuts.push(uppers.map((i) => float32AtOrAbove((distinct[i - 1]! + distinct[i]!) / 2)));
  }
  return { cuts };
}

/** The bin of one value (`count of cuts ≤ fround(value)`). */
export function binOf(cuts: readonly number[], value: number): number {
  return upperBound(cuts, Math.fround(value));
}

/**
 * Bins every row: the result is column-major, bin of row `i`, feature `j` at `j * rows.length + i`, so the
 * histogram of one feature over a node's rows reads one contiguous column.
 */
export function binRows(bins: FeatureBins, rows: readonly (readonly number[])[]): Uint8Array {
  const binned = new Uint8Array(rows.length * bins.cuts.length);
  for (const [j, cuts] of bins.cuts.entries()) {
    const offset = j * rows.length;
    for (const [i, row] of rows.entries()) binned[offset + i] = binOf(cuts, row[j]!);
  }
  return binned;
}

/** The smallest float32 value that is ≥ `value`: for float32 `x`, `x < result` exactly when `x < value`. */
export function float32AtOrAbove(value: number): number {
  const rounded = Math.fround(value);
  if (rounded >= value) return rounded;
  scratch[0] = rounded;
  // One unit in the last place up: the bit pattern moves away from zero for positives, towards it for negatives.
  if (rounded > 0) scratchBits[0] = scratchBits[0]! + 1;
  else if (rounded < 0) scratchBits[0] = scratchBits[0]! - 1;
  else scratchBits[0] = 1; // 0 (or -0) below a tiny positive value: the smallest positive subnormal
  return scratch[0];
}

const scratch = new Float32Array(1);
const scratchBits = new Int32Array(scratch.buffer);

/** Index of the first element ≥ `value` in ascending `values`. */
function lowerBound(values: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Index of the first element > `value` in ascending `values` (= count of elements ≤ `value`). */
function upperBound(values: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

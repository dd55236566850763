import type { FeatureBins } from './feature-bins.js';
import type { RegressionTree } from './regression-tree.js';

/** How {@link growTree} grows one tree. */
export interface TreeGrowthOptions {
  /** Deepest split level: a tree has at most `2^maxDepth` leaves. */
  readonly maxDepth: number;
  /** Fewest training rows in a leaf. */
  readonly minLeafRows: number;
  /** L2 penalty `λ` on leaf values: a leaf's value is `−G / (H + λ)` before the learning rate. */
  readonly l2: number;
  /** Shrinks every leaf value (the boosting learning rate). */
  readonly learningRate: number;
}

/** The training rows a tree is grown on, binned (`binRows`), and each row's gradient and hessian. */
export interface GrowthData {
  readonly bins: FeatureBins;
  /** Column-major bins: row `i`, feature `j` at `j * rows + i`. */
  readonly binned: Uint8Array;
  readonly rows: number;
  readonly gradients: Float64Array;
  readonly hessians: Float64Array;
}

interface Split {
  readonly feature: number;
  /** Rows with bin ≤ `bin` go left. */
  readonly bin: number;
  readonly gain: number;
}

/**
 * Grows one second-order (Newton) regression tree, depth first: each node takes the split of largest gain
 * `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` over every feature and bin boundary whose two sides keep at least
 * `minLeafRows` rows, found from per-bin histograms of gradient and hessian sums (so a node costs
 * `rows × features`, not a sort). Ties keep the first feature and the lowest boundary, so the result
 * depends only on the data. A node without a positive-gain split, or at `maxDepth`, becomes a leaf.
 */
export function growTree(data: GrowthData, options: TreeGrowthOptions): RegressionTree {
  const tree = {
    feature: [] as number[],
    threshold: [] as number[],
    left: [] as number[],
    right: [] as number[],
    value: [] as number[],
    cover: [] as number[],
  };
  const indices = Uint32Array.from({ length: data.rows }, (_, i) => i);
  const scratch = new Uint32Array(data.rows);
  const histogram = new Float64Array(256 * 3);

  const grow = (start: number, end: number, depth: number): number => {
    const node = tree.feature.length;
    let gradient = 0;
    let hessian = 0;
    for (let k = start; k < end; k++) {
      gradient += data.gradients[indices[k]!]!;
      hessian += data.hessians[indices[k]!]!;
    }
    tree.feature.push(-1);
    tree.threshold.push(0);
    tree.left.push(-1);
    tree.right.push(-1);
    tree.value.push(0);
    tree.cover.push(hessian);
    const split =
      depth < options.maxDepth && end - start >= 2 * options.minLeafRows
        ? bestSplit(start, end, gradient, hessian)
        : undefined;
    if (split === undefined) {
      tree.value[node] = Math.fround((-gradient / (hessian + options.l2)) * options.learningRate);
      return node;
    }
    // Stable partition of indices[start, end): left rows first, in their order.
    const column = split.feature * data.rows;
    let l = start;
    let r = 0;
    for (let k = start; k < end; k++) {
      const row = indices[k]!;
      if (data.binned[column + row]! <= split.bin) indices[l++] = row;
      else scratch[r++] = row;
    }
    indices.set(scratch.subarray(0, r), l);
    tree.feature[node] = split.feature;
    tree.threshold[node] = data.bins.cuts[split.feature]![split.bin]!;
    const left = grow(start, l, depth + 1);
    const right = grow(l, end, depth + 1);
    tree.left[node] = left;
    tree.right[node] = right;
    const [coverLeft, coverRight] = [tree.cover[left]!, tree.cover[right]!];
    tree.value[node] =
      coverLeft + coverRight > 0
        ? (coverLeft * tree.value[left]! + coverRight * tree.value[right]!) / (coverLeft + coverRight)
        : (tree.value[left]! + tree.value[right]!) / 2;
    return node;
  };

  const bestSplit = (start: number, end: number, gradient: number, hessian: number): Split | undefined => {
    const { l2, minLeafRows } = options;
    const parentScore = (gradient * gradient) / (hessian + l2);
    let best: Split | undefined;
    for (const [feature, cuts] of data.bins.cuts.entries()) {
      if (cuts.length === 0) continue;
      const bins = cuts.length + 1;
      histogram.fill(0, 0, bins * 3);
      const column = feature * data.rows;
      for (let k = start; k < end; k++) {
        const row = indices[k]!;
        const at = data.binned[column + row]! * 3;
        histogram[at]! += data.gradients[row]!;
        histogram[at + 1]! += data.hessians[row]!;
        histogram[at + 2]! += 1;
      }
      let gradientLeft = 0;
      let hessianLeft = 0;
      let rowsLeft = 0;
      for (let bin = 0; bin < bins - 1; bin++) {
        gradientLeft += histogram[bin * 3]!;
        hessianLeft += histogram[bin * 3 + 1]!;
        rowsLeft += histogram[bin * 3 + 2]!;
        const rowsRight = end - start - rowsLeft;
        if (rowsLeft < minLeafRows) continue;
        if (rowsRight < minLeafRows) break;
        const gradientRight = gradient - gradientLeft;
        const hessianRight = hessian - hessianLeft;
        const gain =
          (gradientLeft * gradientLeft) / (hessianLeft + l2) +
          (gradientRight * gradientRight) / (hessianRight + l2) -
          parentScore;
        if (gain > (best?.gain ?? 1e-12)) best = { feature, bin, gain };
      }
    }
    return best;
  };

  grow(0, data.rows, 0);
  return tree;
}

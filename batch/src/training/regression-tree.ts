/**
 * A binary regression tree in flat arrays, node 0 the root, children after their parent (pre-order).
 *
 * A split node sends a row left when `fround(row[feature]) < threshold`, the comparison ONNX's
 * `BRANCH_LT` makes on a float32 input; a leaf (`feature === -1`) adds its `value`.
 */
export interface RegressionTree {
  /** Split feature per node (tensor column), `-1` for a leaf. */
  readonly feature: readonly number[];
  /** Split threshold per node (a float32 value); 0 for a leaf. */
  readonly threshold: readonly number[];
  /** Left (`x < threshold`) child per split node; -1 for a leaf. */
  readonly left: readonly number[];
  /** Right (`x ≥ threshold`) child per split node; -1 for a leaf. */
  readonly right: readonly number[];
  /**
   * Per leaf: what the tree adds to the prediction (a float32 value, learning rate applied). Per split
   * node: the cover-weighted mean of the leaf values below it — what the tree would add if it stopped
   * there, the reference point of the path contributions (`tree-contributions.ts`).
   */
  readonly value: readonly number[];
  /** Training cover per node: the sum of the rows' hessians (the row count for squared loss). */
  readonly cover: readonly number[];
}

/** The index of the leaf `row` (raw feature values, tensor order) falls into. */
export function leafOf(tree: RegressionTree, row: readonly number[]): number {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    node =
      Math.fround(row[tree.feature[node]!]!) < tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
  }
  return node;
}

/** Number of leaves of a tree. */
export function leafCount(tree: RegressionTree): number {
  return tree.feature.filter((feature) => feature < 0).length;
}

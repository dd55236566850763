import type { GradientBoostedTreesModel } from './gradient-boosted-trees.js';
import type { RegressionTree } from './regression-tree.js';

/**
 * The margin the contributions start from: `baseMargin + Σ_trees value(root)`, the ensemble's margin for
 * a row that stopped at every root (the cover-weighted average training prediction of each tree).
 * `bias + Σ_j contributions(row)[j] = predictMargin(row)` for every row.
 */
export function contributionBias(model: GradientBoostedTreesModel): number {
  return model.trees.reduce((sum, tree) => sum + tree.value[0]!, model.baseMargin);
}

/**
 * Per-feature contributions of one row (Saabas' path-dependent attribution, XGBoost's `approx_contribs`):
 * walking a tree from its root to the row's leaf, each step from a node to a child adds
 * `value(child) − value(node)` to the node's split feature, `value` being the cover-weighted mean
 * prediction below a node (`RegressionTree.value`). The steps of a path add up to `leaf − value(root)`, so
 * the contributions plus {@link contributionBias} equal the margin (the logit for churn, the prediction for
 * CLV), as the linear models' contributions plus their intercept equal their linear predictor.
 *
 * They depend only on the leaf a row reaches, which is why the ONNX export can compute them with a second
 * tree ensemble whose leaves carry the path's contribution vector (`tree-ensemble-exporter.ts`).
 */
export function treeContributions(model: GradientBoostedTreesModel, row: readonly number[]): number[] {
  const contributions = new Array<number>(model.featureCount).fill(0);
  for (const tree of model.trees) {
    let node = 0;
    while (tree.feature[node]! >= 0) {
      const feature = tree.feature[node]!;
      const child = Math.fround(row[feature]!) < tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
      contributions[feature]! += tree.value[child]! - tree.value[node]!;
      node = child;
    }
  }
  return contributions;
}

/**
 * The contribution vector of every leaf of one tree, by leaf index: what {@link treeContributions} adds
 * for a row that ends there (sparse: only the features split on along the path, in first-split order).
 */
export function leafContributions(tree: RegressionTree): Map<number, Map<number, number>> {
  const byLeaf = new Map<number, Map<number, number>>();
  const walk = (node: number, path: Map<number, number>): void => {
    const feature = tree.feature[node]!;
    if (feature < 0) {
      byLeaf.set(node, path);
      return;
    }
    for (const child of [tree.left[node]!, tree.right[node]!]) {
      const next = new Map(path);
      next.set(feature, (next.get(feature) ?? 0) + tree.value[child]! - tree.value[node]!);
      walk(child, next);
    }
  };
  walk(0, new Map());
  return byLeaf;
}

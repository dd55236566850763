import type { GradientBoostedTreesModel } from '../training/gradient-boosted-trees.js';
import { leafCount } from '../training/regression-tree.js';
import { contributionBias } from '../training/tree-contributions.js';

/**
 * The manifest's `training` fields of a tree-family model: the algorithm, every hyper-parameter, the
 * ensemble's size, and the two constants a reader needs to interpret the outputs — `baseMargin` (the
 * margin before any tree) and `contributionBias` (the margin the reason-code contributions start from).
 */
export function treesTrainingSummary(model: GradientBoostedTreesModel): Record<string, unknown> {
  const { loss, ...hyperParameters } = model.options;
  return {
    algorithm: 'gradient-boosted-trees',
    loss,
    hyperParameters,
    trees: model.trees.length,
    leaves: model.trees.reduce((sum, tree) => sum + leafCount(tree), 0),
    baseMargin: model.baseMargin,
    contributionBias: contributionBias(model),
  };
}

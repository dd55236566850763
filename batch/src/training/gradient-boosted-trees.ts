import { binRows, fitFeatureBins } from './feature-bins.js';
import { leafOf, type RegressionTree } from './regression-tree.js';
import { growTree } from './tree-grower.js';

/**
 * What the trees are fitted to: `logistic` — the log-likelihood of binary labels, the ensemble's sum is
 * the logit of the positive class; `squared` — squared error, the sum is the predicted value itself.
 */
export type BoostingLoss = 'logistic' | 'squared';

/** Hyper-parameters of {@link fitGradientBoostedTrees}; all are recorded in the manifest. */
export interface GradientBoostingOptions {
  readonly loss: BoostingLoss;
  /** Boosting rounds: one tree each. */
  readonly rounds: number;
  /** Shrinkage of every tree's leaf values. */
  readonly learningRate: number;
  /** Deepest split level of a tree. */
  readonly maxDepth: number;
  /** Fewest training rows in a leaf. */
  readonly minLeafRows: number;
  /** L2 penalty on leaf values (see `TreeGrowthOptions.l2`). */
  readonly l2: number;
  /** Most histogram bins per feature (see `fitFeatureBins`). */
  readonly maxBins: number;
}

/** A fitted ensemble: `margin(row) = baseMargin + Σ_trees leaf value`. */
export interface GradientBoostedTreesModel {
  readonly options: GradientBoostingOptions;
  /** Number of features a row has (tensor width). */
  readonly featureCount: number;
  /**
   * The margin before any tree (a float32 value): the log-odds of the training base rate (`logistic`) or
   * the training mean (`squared`).
   */
  readonly baseMargin: number;
  readonly trees: readonly RegressionTree[];
}

/**
 * Fits gradient-boosted regression trees (Friedman's gradient boosting with Newton leaf values, as in
 * XGBoost / LightGBM) on histogram-binned features: each round grows a tree on the current gradients and
 * hessians of the loss, scaled by the learning rate. There is no randomness (no row or feature sampling),
 * so the same rows and options always give the same model, bit for bit.
 *
 * @param rows - Raw feature rows; they are compared as float32 (see `feature-bins.ts`).
 * @param targets - One target per row: 0/1 for `logistic`, any real number for `squared`.
 * @throws Error when `rows` is empty, lengths differ, or a `logistic` target is not 0 or 1.
 */
export function fitGradientBoostedTrees(
  rows: readonly (readonly number[])[],
  targets: readonly number[],
  options: GradientBoostingOptions,
): GradientBoostedTreesModel {
  if (rows.length !== targets.length) throw new Error(`${rows.length} rows but ${targets.length} targets`);
  if (options.loss === 'logistic' && targets.some((target) => target !== 0 && target !== 1)) {
    throw new Error('logistic loss needs 0/1 targets');
  }
  const bins = fitFeatureBins(rows, options.maxBins);
  const binned = binRows(bins, rows);
  const n = rows.length;
  const mean = targets.reduce((sum, target) => sum + target, 0) / n;
  // One-class labels would put the log-odds at ±∞; clamped, such a model predicts (nearly) that class.
  const rate = Math.min(Math.max(mean, 1e-6), 1 - 1e-6);
  const baseMargin = Math.fround(options.loss === 'logistic' ? Math.log(rate / (1 - rate)) : mean);
  const margins = new Float64Array(n).fill(baseMargin);
  const gradients = new Float64Array(n);
  const hessians = new Float64Array(n);
  const trees: RegressionTree[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < n; i++) {
      if (options.loss === 'logistic') {
        const p = sigmoid(margins[i]!);
        gradients[i] = p - targets[i]!;
        hessians[i] = Math.max(p * (1 - p), 1e-16);
      } else {
        gradients[i] = margins[i]! - targets[i]!;
        hessians[i] = 1;
      }
    }
    const tree = growTree({ bins, binned, rows: n, gradients, hessians }, options);
    trees.push(tree);
    for (let i = 0; i < n; i++) margins[i]! += tree.value[leafOf(tree, rows[i]!)]!;
  }
  return { options, featureCount: bins.cuts.length, baseMargin, trees };
}

/** The ensemble's margin for one raw row: the logit (`logistic`) or the prediction (`squared`). */
export function predictMargin(model: GradientBoostedTreesModel, row: readonly number[]): number {
  let margin = model.baseMargin;
  for (const tree of model.trees) margin += tree.value[leafOf(tree, row)]!;
  return margin;
}

/** The prediction for one raw row: a probability (`logistic`) or a value (`squared`). */
export function predictBoosted(model: GradientBoostedTreesModel, row: readonly number[]): number {
  const margin = predictMargin(model, row);
  return model.options.loss === 'logistic' ? sigmoid(margin) : margin;
}

function sigmoid(logit: number): number {
  return 1 / (1 + Math.exp(-logit));
}

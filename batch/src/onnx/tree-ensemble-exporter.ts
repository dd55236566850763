import type { GradientBoostedTreesModel } from '../training/gradient-boosted-trees.js';
import type { RegressionTree } from '../training/regression-tree.js';
import { leafContributions } from '../training/tree-contributions.js';
import {
  encodeModel,
  floatValueInfo,
  int64Initializer,
  mlNode,
  node,
  type AttributeValue,
} from './graph-builder.js';
import type { onnx } from './onnx-proto.js';

/** Options of {@link exportTreeEnsemble}. */
export interface ExportTreeEnsembleOptions {
  /** Name of the score output, shape [batch, 1]. */
  readonly scoreOutput: string;
  /**
   * Name of the float32 input, shape [batch, features].
   * @default 'features'
   */
  readonly inputName?: string;
  /**
   * Name of the per-feature contributions output, shape [batch, features].
   * @default 'contributions'
   */
  readonly contributionsOutput?: string;
  /** Human description stored in the model. */
  readonly docString: string;
  /** Key/value metadata stored in the model. */
  readonly metadata?: readonly (readonly [key: string, value: string])[];
}

const FLOAT_ATTRIBUTES = new Set(['nodes_values', 'class_weights', 'target_weights', 'base_values']);

/** A tree of one leaf, for the weights {@link exportTreeEnsemble} adds to a degenerate model. */
const SINGLE_LEAF: RegressionTree = {
  feature: [-1],
  threshold: [0],
  left: [-1],
  right: [-1],
  value: [0],
  cover: [0],
};

/**
 * Exports gradient-boosted trees as an ONNX model with the signature of every served version — input
 * `features` [batch, n], outputs `<score>` [batch, 1] and `contributions` [batch, n] — built from
 * `ai.onnx.ml` tree ensembles:
 *
 * ```text
 * logistic loss:  TreeEnsembleClassifier(features) → label [batch], probabilities [batch, 2]
 *                 score = Slice(probabilities, column 1)          P(class 1) = sigmoid(margin)
 * squared loss:   score = TreeEnsembleRegressor(features)          [batch, 1], the margin itself
 * both:           contributions = TreeEnsembleRegressor(features)  [batch, n], SUM over trees
 * ```
 *
 * The classifier follows skl2onnx's gradient-boosting converter, the binary case ONNX Runtime is tested
 * with: every leaf weighs class id 0 with its value, one base value (`baseMargin`), `post_transform`
 * LOGISTIC, and the runtime writes `[sigmoid(−margin), sigmoid(margin)]`. (Weighing both classes with
 * two base values does not work: ONNX Runtime then adds the class-0 sum to the class-1 base value.)
 *
 * Reason codes: Saabas contributions depend only on the leaf a row reaches (`tree-contributions.ts`), so a
 * second ensemble with the same splits whose leaves carry the path's contribution vector (one target per
 * feature) computes them in the graph, as the linear graphs compute theirs. The contributions add up,
 * with `contributionBias(model)`, to the margin (logit for churn, the prediction for CLV).
 *
 * Thresholds are the model's float32 cut points with `BRANCH_LT`, so every row takes the same branches as
 * in TypeScript; leaf values are float32 already. Scores match `predictBoosted` to about 1e-6 relative
 * (ONNX Runtime sums in float32). Pinned by `test/unit/tree-ensemble-export.test.ts`, which also covers
 * the degenerate models (all leaves positive, no split at all).
 */
export function exportTreeEnsemble(
  model: GradientBoostedTreesModel,
  options: ExportTreeEnsembleOptions,
): Uint8Array {
  const { inputName = 'features', contributionsOutput = 'contributions', scoreOutput } = options;
  const width = model.featureCount;
  const structure = nodeAttributes(model.trees);
  const leaves = model.trees.flatMap((tree, treeId) =>
    tree.feature.flatMap((feature, nodeId) => (feature < 0 ? [{ treeId, nodeId, tree }] : [])),
  );
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];

  if (model.options.loss === 'logistic') {
    const weights = leaves.map(({ tree, nodeId }) => tree.value[nodeId]!);
    // ONNX Runtime reads class-0-only weights that are all ≥ 0 as probabilities, not as a margin (its
    // `weights_are_all_positive_` case). A model whose every leaf is ≥ 0 (one trained on one class) gets
    // an extra one-leaf tree of weight −1, offset by +1 in the base value: the same margin.
    const offset = weights.some((weight) => weight < 0) ? 0 : 1;
    const extraTree = model.trees.length;
    nodes.push(
      mlNode(
        'TreeEnsembleClassifier',
        [inputName],
        ['label', 'probabilities'],
        {
          ...(offset === 0 ? structure : nodeAttributes([...model.trees, SINGLE_LEAF])),
          class_treeids: [...leaves.map((leaf) => leaf.treeId), ...(offset ? [extraTree] : [])],
          class_nodeids: [...leaves.map((leaf) => leaf.nodeId), ...(offset ? [0] : [])],
          class_ids: [...leaves.map(() => 0), ...(offset ? [0] : [])],
          class_weights: [...weights, ...(offset ? [-offset] : [])],
          classlabels_int64s: [0, 1],
          base_values: [Math.fround(model.baseMargin + offset)],
          post_transform: 'LOGISTIC',
        },
        FLOAT_ATTRIBUTES,
      ),
      node('Slice', ['probabilities', 'positive_start', 'positive_end', 'class_axis'], [scoreOutput]),
    );
    initializers.push(
      int64Initializer('positive_start', [1]),
      int64Initializer('positive_end', [2]),
      int64Initializer('class_axis', [1]),
    );
  } else {
    nodes.push(
      mlNode(
        'TreeEnsembleRegressor',
        [inputName],
        [scoreOutput],
        {
          ...structure,
          target_treeids: leaves.map((leaf) => leaf.treeId),
          target_nodeids: leaves.map((leaf) => leaf.nodeId),
          target_ids: leaves.map(() => 0),
          target_weights: leaves.map(({ tree, nodeId }) => tree.value[nodeId]!),
          n_targets: 1,
          aggregate_function: 'SUM',
          base_values: [model.baseMargin],
          post_transform: 'NONE',
        },
        FLOAT_ATTRIBUTES,
      ),
    );
  }
  nodes.push(contributionsNode(model.trees, inputName, contributionsOutput, width));

  return encodeModel(
    {
      name: `gradient_boosted_trees_${model.options.loss}`,
      input: [floatValueInfo(inputName, ['batch', width])],
      output: [
        floatValueInfo(scoreOutput, ['batch', 1]),
        floatValueInfo(contributionsOutput, ['batch', width]),
      ],
      initializer: initializers,
      node: nodes,
    },
    { docString: options.docString, ...(options.metadata ? { metadata: options.metadata } : {}), ml: true },
  );
}

/** The `nodes_*` attributes of a tree ensemble: every node of every tree, node ids = array indices. */
function nodeAttributes(trees: readonly RegressionTree[]): Record<string, AttributeValue> {
  const all = trees.flatMap((tree, treeId) =>
    tree.feature.map((feature, nodeId) => ({ tree, treeId, nodeId, feature })),
  );
  return {
    nodes_treeids: all.map((n) => n.treeId),
    nodes_nodeids: all.map((n) => n.nodeId),
    nodes_featureids: all.map((n) => Math.max(n.feature, 0)),
    nodes_modes: all.map((n) => (n.feature < 0 ? 'LEAF' : 'BRANCH_LT')),
    nodes_values: all.map((n) => n.tree.threshold[n.nodeId]!),
    nodes_truenodeids: all.map((n) => Math.max(n.tree.left[n.nodeId]!, 0)),
    nodes_falsenodeids: all.map((n) => Math.max(n.tree.right[n.nodeId]!, 0)),
  };
}

/**
 * The contributions ensemble: the trees that split at all (a lone leaf contributes nothing), each leaf
 * weighing target `j` with the path's contribution to feature `j`; a single zero leaf when none splits.
 */
function contributionsNode(
  trees: readonly RegressionTree[],
  inputName: string,
  output: string,
  width: number,
): onnx.INodeProto {
  const splitting = trees.filter((tree) => tree.feature[0]! >= 0);
  const targets: { treeId: number; nodeId: number; feature: number; weight: number }[] = [];
  for (const [treeId, tree] of splitting.entries()) {
    for (const [nodeId, contributions] of [...leafContributions(tree)].sort(([a], [b]) => a - b)) {
      for (const [feature, weight] of [...contributions].sort(([a], [b]) => a - b)) {
        targets.push({ treeId, nodeId, feature, weight });
      }
    }
  }
  // A constant model (no tree splits, e.g. trained on constant targets) explains nothing: one leaf of zeros.
  const ensemble = splitting.length > 0 ? splitting : [SINGLE_LEAF];
  if (splitting.length === 0) targets.push({ treeId: 0, nodeId: 0, feature: 0, weight: 0 });
  return mlNode(
    'TreeEnsembleRegressor',
    [inputName],
    [output],
    {
      ...nodeAttributes(ensemble),
      target_treeids: targets.map((target) => target.treeId),
      target_nodeids: targets.map((target) => target.nodeId),
      target_ids: targets.map((target) => target.feature),
      target_weights: targets.map((target) => target.weight),
      n_targets: width,
      aggregate_function: 'SUM',
      post_transform: 'NONE',
    },
    FLOAT_ATTRIBUTES,
  );
}

import { describe, expect, it } from 'vitest';
import { binOf, fitFeatureBins, float32AtOrAbove } from '../../batch/src/training/feature-bins.js';
import {
  fitGradientBoostedTrees,
  predictBoosted,
  predictMargin,
  type GradientBoostedTreesModel,
  type GradientBoostingOptions,
} from '../../batch/src/training/gradient-boosted-trees.js';
import { leafOf, type RegressionTree } from '../../batch/src/training/regression-tree.js';
import {
  contributionBias,
  leafContributions,
  treeContributions,
} from '../../batch/src/training/tree-contributions.js';
import { SeededRandom } from '../helpers/seeded-random.js';

const seededRandom = (seed: number) => {
  const random = new SeededRandom('gradient-boosted-trees', seed);
  return () => random.float();
};

const squared: GradientBoostingOptions = {
  loss: 'squared',
  rounds: 1,
  learningRate: 1,
  maxDepth: 2,
  minLeafRows: 1,
  l2: 0,
  maxBins: 64,
};

describe('float32 cut points', () => {
  it('float32AtOrAbove is the smallest float32 at or above the value', () => {
    for (const value of [0.1, -0.1, 30.415, -7.3e-3, 1e-40, 1, -1, 0]) {
      const cut = float32AtOrAbove(value);
      expect(Math.fround(cut)).toBe(cut);
      expect(cut).toBeGreaterThanOrEqual(value);
      // The float32 just below the cut is below the value.
      const below = new Float32Array([cut]);
      const bits = new Int32Array(below.buffer);
      bits[0] = cut > 0 ? bits[0]! - 1 : cut < 0 ? bits[0]! + 1 : -2147483647;
      expect(below[0]!).toBeLessThan(value);
    }
  });

  it('splits two neighbouring values whatever their float32 rounding', () => {
    // 0.1 and the next double above it round to the same float32: one bin; 0.1 and 0.1000001 do not.
    const bins = fitFeatureBins([[0.1], [0.1000001], [0.1 + 2 ** -56]]);
    expect(bins.cuts[0]).toHaveLength(1);
    const [cut] = bins.cuts[0]!;
    expect(Math.fround(0.1) < cut!).toBe(true);
    expect(Math.fround(0.1000001) < cut!).toBe(false);
    expect([0.1, 0.1000001].map((x) => binOf(bins.cuts[0]!, x))).toEqual([0, 1]);
  });

  it('gives a discrete feature one bin per value and a continuous one at most maxBins', () => {
    const random = seededRandom(3);
    const rows = Array.from({ length: 5_000 }, () => [Math.floor(random() * 3), random() * 100]);
    const { cuts } = fitFeatureBins(rows, 16);
    expect(cuts[0]!.length).toBe(2);
    expect(cuts[1]!.length).toBe(15);
    const counts = new Array<number>(16).fill(0);
    for (const row of rows) counts[binOf(cuts[1]!, row[1]!)]! += 1;
    // Quantile bins: each holds about 1/16 of the rows.
    for (const count of counts) expect(Math.abs(count - 5_000 / 16)).toBeLessThan(60);
  });
});

describe('gradient-boosted trees', () => {
  it('finds the split of a step function and predicts each side exactly', () => {
    const rows = [1, 2, 3, 4, 5, 6].map((x) => [x, 0]);
    const targets = [10, 10, 10, 20, 20, 20];
    const model = fitGradientBoostedTrees(rows, targets, { ...squared, maxDepth: 1 });
    const [tree] = model.trees;
    expect(tree!.feature[0]).toBe(0);
    expect(tree!.threshold[0]).toBe(3.5);
    expect(rows.map((row) => predictBoosted(model, row))).toEqual(targets);
  });

  it('keeps at least minLeafRows rows in every leaf and stops at maxDepth', () => {
    const random = seededRandom(5);
    const rows = Array.from({ length: 2_000 }, () => [random(), random(), random()]);
    const targets = rows.map(([a, b]) => (a! > 0.5 ? 1 : 0) + (b! > 0.3 ? 2 : 0) + random());
    const model = fitGradientBoostedTrees(rows, targets, {
      ...squared,
      rounds: 5,
      learningRate: 0.5,
      maxDepth: 3,
      minLeafRows: 150,
    });
    for (const tree of model.trees) {
      const perLeaf = new Map<number, number>();
      for (const row of rows) perLeaf.set(leafOf(tree, row), (perLeaf.get(leafOf(tree, row)) ?? 0) + 1);
      expect(Math.min(...perLeaf.values())).toBeGreaterThanOrEqual(150);
      expect(perLeaf.size).toBeLessThanOrEqual(8);
    }
  });

  it('fits a logistic margin whose probabilities track the labels', () => {
    const random = seededRandom(9);
    const rows = Array.from({ length: 4_000 }, () => [random() * 10]);
    const labels = rows.map(([x]) => (random() < (x! > 5 ? 0.8 : 0.2) ? 1 : 0));
    const model = fitGradientBoostedTrees(rows, labels, {
      ...squared,
      loss: 'logistic',
      rounds: 50,
      learningRate: 0.3,
      minLeafRows: 20,
      l2: 1,
    });
    expect(predictBoosted(model, [2])).toBeCloseTo(0.2, 1);
    expect(predictBoosted(model, [8])).toBeCloseTo(0.8, 1);
  });

  it('gives the same model for the same rows (no randomness)', () => {
    const random = seededRandom(1);
    const rows = Array.from({ length: 500 }, () => [random(), random()]);
    const targets = rows.map(([a, b]) => a! * 3 + b!);
    const options = { ...squared, rounds: 10, learningRate: 0.3, maxDepth: 3, minLeafRows: 5 };
    expect(fitGradientBoostedTrees(rows, targets, options)).toEqual(
      fitGradientBoostedTrees(rows, targets, options),
    );
  });
});

describe('path contributions (Saabas)', () => {
  // x0 < 1 ? (x1 < 5 ? 1 : 3) : 10, with covers 1, 1, 2: value(split on x1) = 2, value(root) = 6.
  const tree: RegressionTree = {
    feature: [0, 1, -1, -1, -1],
    threshold: [1, 5, 0, 0, 0],
    left: [1, 2, -1, -1, -1],
    right: [4, 3, -1, -1, -1],
    value: [6, 2, 1, 3, 10],
    cover: [4, 2, 1, 1, 2],
  };
  const model: GradientBoostedTreesModel = {
    options: { ...squared, rounds: 1 },
    featureCount: 3,
    baseMargin: 100,
    trees: [tree, tree],
  };

  it('attributes each step along the path to the feature split on', () => {
    // Path root → x1 split → leaf 1: x0 moves 6 → 2 (−4), x1 moves 2 → 1 (−1); two identical trees.
    expect(treeContributions(model, [0, 0, 42])).toEqual([-8, -2, 0]);
    // Path root → leaf 10: only x0, +4 per tree.
    expect(treeContributions(model, [7, 0, 42])).toEqual([8, 0, 0]);
    expect(contributionBias(model)).toBe(112);
  });

  it('adds up with the bias to the margin, for every leaf', () => {
    for (const row of [
      [0, 0, 0],
      [0, 9, 0],
      [3, 0, 0],
    ]) {
      const sum = treeContributions(model, row).reduce(
        (total, value) => total + value,
        contributionBias(model),
      );
      expect(sum).toBe(predictMargin(model, row));
    }
  });

  it('stores one contribution vector per leaf, as the ONNX contributions ensemble does', () => {
    expect(leafContributions(tree)).toEqual(
      new Map([
        [
          2,
          new Map([
            [0, -4],
            [1, -1],
          ]),
        ],
        [
          3,
          new Map([
            [0, -4],
            [1, 1],
          ]),
        ],
        [4, new Map([[0, 4]])],
      ]),
    );
  });
});

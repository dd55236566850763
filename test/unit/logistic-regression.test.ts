import { describe, expect, it } from 'vitest';
import { CustomerRandom } from '../../server/src/demo-data/customer-random.js';
import { linearPredictor } from '../../batch/src/training/linear-model.js';
import { fitLogisticRegression } from '../../batch/src/training/logistic-regression.js';
import { standardizeRow } from '../../batch/src/training/standardizer.js';

// y ~ Bernoulli(sigmoid(−1 + 2·x0 − 0.5·x1)), x0 ~ N(1, 1), x1 ~ N(10, 4²), x2 pure noise.
const random = new CustomerRandom(3, 0);
const rows = Array.from({ length: 20_000 }, () => [
  random.normal(1, 1),
  random.normal(10, 4),
  random.normal(),
]);
const labels = rows.map(([x0, x1]) => random.bernoulli(1 / (1 + Math.exp(-(-1 + 2 * x0! - 0.5 * x1!)))));

describe('fitLogisticRegression', () => {
  it('recovers the generating coefficients', () => {
    const model = fitLogisticRegression(rows, labels, { l2: 1e-6 });
    // Weights are per standard deviation; back on the raw scale they are the generating slopes.
    const slopes = model.weights.map((weight, j) => weight / model.standardizer.stds[j]!);
    expect(Math.abs(slopes[0]! - 2)).toBeLessThan(0.1);
    expect(Math.abs(slopes[1]! + 0.5)).toBeLessThan(0.03);
    expect(Math.abs(slopes[2]!)).toBeLessThan(0.05);
    expect(Math.abs(linearPredictor(model, [1, 10, 0]) + 4)).toBeLessThan(0.1);
  });

  it('stops where the penalised score equations hold (zero gradient)', () => {
    const l2 = 50;
    const model = fitLogisticRegression(rows, labels, { l2 });
    const gradient = new Array<number>(4).fill(0);
    for (const [i, row] of rows.entries()) {
      const residual = (labels[i] ? 1 : 0) - 1 / (1 + Math.exp(-linearPredictor(model, row)));
      gradient[0]! += residual;
      for (const [j, z] of standardizeRow(model.standardizer, row).entries())
        gradient[j + 1]! += residual * z;
    }
    expect(gradient[0]).toBeCloseTo(0, 6);
    for (const [j, weight] of model.weights.entries()) expect(gradient[j + 1]).toBeCloseTo(l2 * weight, 6);
    // The penalty visibly shrinks the weights compared with the nearly unpenalised fit.
    const loose = fitLogisticRegression(rows, labels, { l2: 1e-6 });
    expect(Math.abs(model.weights[0]!)).toBeLessThan(Math.abs(loose.weights[0]!));
  });

  it('is deterministic to the bit', () => {
    expect(fitLogisticRegression(rows, labels)).toEqual(fitLogisticRegression(rows, labels));
  });
});

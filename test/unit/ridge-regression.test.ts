import { describe, expect, it } from 'vitest';
import { CustomerRandom } from '../../server/src/demo-data/customer-random.js';
import { linearPredictor } from '../../batch/src/training/linear-model.js';
import {
  fitLog1pRidgeRegression,
  fitRidgeRegression,
  predictAmount,
} from '../../batch/src/training/ridge-regression.js';

const random = new CustomerRandom(5, 0);
const rows = Array.from({ length: 5_000 }, () => [random.normal(3, 2), random.uniform() * 100]);

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

describe('fitRidgeRegression', () => {
  it('recovers noiseless linear targets when the penalty is negligible', () => {
    const targets = rows.map(([x0, x1]) => 4 + 1.5 * x0! - 0.02 * x1!);
    const model = fitRidgeRegression(rows, targets, { l2: 1e-9 });
    expect(linearPredictor(model, [1, 50])).toBeCloseTo(4 + 1.5 - 1, 6);
    expect(model.intercept).toBeCloseTo(mean(targets), 9);
  });

  it('shrinks the weights but not the intercept', () => {
    const targets = rows.map(([x0]) => 2 * x0!);
    const loose = fitRidgeRegression(rows, targets, { l2: 1e-9 });
    const tight = fitRidgeRegression(rows, targets, { l2: 5_000 });
    expect(Math.abs(tight.weights[0]!)).toBeLessThan(Math.abs(loose.weights[0]!) * 0.6);
    expect(tight.intercept).toBeCloseTo(loose.intercept, 9);
  });
});

describe('fitLog1pRidgeRegression', () => {
  it('back-transforms to amounts exactly when log1p(amount) is linear', () => {
    const amounts = rows.map(([x0]) => Math.expm1(5 + 0.3 * x0!));
    const model = fitLog1pRidgeRegression(rows, amounts, { l2: 1e-9 });
    expect(model.logCorrection).toBeCloseTo(0, 9);
    expect(predictAmount(model, [2, 0]) / Math.expm1(5.6)).toBeCloseTo(1, 6);
  });

  it('predicts the mean, not the median, under log-normal noise', () => {
    const sigma = 0.8;
    const amounts = rows.map(([x0]) => Math.exp(5 + 0.3 * x0! + random.normal(0, sigma)) - 1);
    const model = fitLog1pRidgeRegression(rows, amounts);
    const predicted = mean(rows.map((row) => predictAmount(model, row)));
    const medianBased = mean(rows.map((row) => Math.expm1(linearPredictor(model, row))));
    expect(model.logCorrection).toBeCloseTo(sigma ** 2 / 2, 1);
    expect(predicted / mean(amounts)).toBeCloseTo(1, 1);
    expect(medianBased / mean(amounts)).toBeLessThan(0.8);
  });

  it('rejects negative amounts', () => {
    expect(() => fitLog1pRidgeRegression([[1], [2]], [1, -1])).toThrow(/non-negative/);
  });
});

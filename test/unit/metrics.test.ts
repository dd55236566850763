import { describe, expect, it } from 'vitest';
import { auc, logLoss, mae, rmse } from '../../batch/src/training/metrics.js';

describe('auc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one', () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [false, false, true, true])).toBe(1);
    expect(auc([0.9, 0.8, 0.2, 0.1], [false, false, true, true])).toBe(0);
  });

  it('counts discordant pairs', () => {
    // Pairs (positive, negative): (0.35, 0.1) ok, (0.35, 0.4) wrong, (0.8, 0.1) ok, (0.8, 0.4) ok → 3/4.
    expect(auc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBe(0.75);
  });

  it('counts ties between a positive and a negative as one half', () => {
    // Pairs: (0.5, 0.5) tie = 0.5, (0.5, 0.2) ok = 1, (0.9, 0.5) ok, (0.9, 0.2) ok → 3.5/4.
    expect(auc([0.5, 0.2, 0.5, 0.9], [false, false, true, true])).toBe(0.875);
    expect(auc([1, 1, 1, 1], [false, true, false, true])).toBe(0.5);
  });

  it('throws without both classes', () => {
    expect(() => auc([0.1, 0.2], [true, true])).toThrow(/positive and one negative/);
  });
});

describe('logLoss', () => {
  it('is the mean negative log-likelihood', () => {
    // −(ln 0.8 + ln(1 − 0.4)) / 2
    expect(logLoss([0.8, 0.4], [true, false])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.6)) / 2, 15);
    expect(logLoss([0.5, 0.5, 0.5], [true, false, true])).toBeCloseTo(Math.LN2, 15);
  });

  it('stays finite for confident mistakes', () => {
    const loss = logLoss([0, 1], [true, false]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeCloseTo((-Math.log(1e-15) - Math.log(1 - (1 - 1e-15))) / 2, 12);
  });
});

describe('rmse and mae', () => {
  it('match hand-computed values', () => {
    // Errors 1, −2, 3, 0: squares 1 + 4 + 9 + 0 = 14, absolute 6.
    const predictions = [2, 0, 7, 5];
    const actuals = [1, 2, 4, 5];
    expect(rmse(predictions, actuals)).toBeCloseTo(Math.sqrt(14 / 4), 15);
    expect(mae(predictions, actuals)).toBe(1.5);
  });

  it('reject inputs of different lengths', () => {
    expect(() => rmse([1, 2], [1])).toThrow(/lengths differ/);
  });
});

import { describe, expect, it } from 'vitest';
import { referenceDistribution } from '../../batch/src/training/reference-distribution.js';

describe('referenceDistribution', () => {
  it('cuts continuous values at their deciles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(referenceDistribution(values)).toEqual({
      edges: [10, 20, 30, 40, 50, 60, 70, 80, 90],
      fractions: new Array(10).fill(0.1),
    });
  });

  it('gives a discrete feature one bin per value and no empty bin', () => {
    const tiers = [...new Array(50).fill(0), ...new Array(30).fill(1), ...new Array(20).fill(2)] as number[];
    expect(referenceDistribution(tiers)).toEqual({ edges: [0, 1], fractions: [0.5, 0.3, 0.2] });
    expect(referenceDistribution([3, 3, 3])).toEqual({ edges: [], fractions: [1] });
  });

  it('puts values equal to an edge in the bin that edge closes', () => {
    expect(referenceDistribution([0, 0, 0, 1, 5], 2)).toEqual({ edges: [0], fractions: [0.6, 0.4] });
  });
});

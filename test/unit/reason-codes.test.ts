import { describe, expect, it } from 'vitest';
import { topReasonCodes } from '../../server/src/inference/reason-codes.js';

describe('topReasonCodes', () => {
  const names = ['a', 'b', 'c', 'd'];
  // two rows × four features
  const contributions = Float32Array.from([0.1, -0.5, 0.25, 0, /* row 1 */ 2, 0.5, -0.5, -3]);

  it('picks the largest contributions by absolute value, keeping their sign', () => {
    expect(topReasonCodes(contributions, 0, names, [1, 2, 3, 4], 2)).toEqual([
      { feature: 'b', contribution: -0.5, value: 2 },
      { feature: 'c', contribution: 0.25, value: 3 },
    ]);
  });

  it('explains the requested row and breaks ties by feature order', () => {
    expect(topReasonCodes(contributions, 1, names, [5, 6, 7, 8], 4).map((r) => r.feature)).toEqual([
      'd',
      'a',
      'b',
      'c',
    ]);
  });

  it('returns at most one code per feature', () => {
    expect(topReasonCodes(contributions, 0, names, [1, 2, 3, 4], 99)).toHaveLength(4);
  });

  it('agrees with sorting every column, on random rows with ties', () => {
    const width = 11;
    const features = Array.from({ length: width }, (_, i) => `f${i}`);
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (let trial = 0; trial < 200; trial++) {
      // Rounded to one decimal so that equal magnitudes (ties, also of opposite sign) are common.
      const row = Float32Array.from({ length: width }, () => Math.round(random() * 5) / 10);
      const values = Array.from({ length: width }, (_, i) => i);
      for (const k of [1, 3, width]) {
        const expected = [...Array(width).keys()]
          .sort((a, b) => Math.abs(row[b]!) - Math.abs(row[a]!) || a - b)
          .slice(0, k)
          .map((i) => features[i]);
        expect(topReasonCodes(row, 0, features, values, k).map((r) => r.feature)).toEqual(expected);
      }
    }
  });
});

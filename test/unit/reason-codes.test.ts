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
});

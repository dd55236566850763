import { describe, expect, it } from 'vitest';
import { versionPolicy } from '../../server/src/services/model-config.js';

describe("ModelConfig's version policy", () => {
  it('lists numeric versions as Triton numbers, lowest first', () => {
    expect(versionPolicy(['10', '2', '1'])).toEqual({
      policyChoice: { $case: 'specific', value: { versions: [1, 2, 10] } },
    });
  });

  it('is `all` when a version is no Triton number (dotted, dated, leading zero, too long) or there is none', () => {
    for (const versions of [['1', '1.1'], ['2026-05'], ['01'], ['1234567890123456'], []]) {
      expect(versionPolicy(versions)).toEqual({ policyChoice: { $case: 'all', value: {} } });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../server/src/security/token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst, then one call per refill interval, and says how long to wait', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3 }, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(100); // one token every 100 ms
    expect(bucket.take(50)).toBe(50);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(100)).toBe(100);
  });

  it('refills up to the burst only', () => {
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 2 }, 0);
    bucket.take(0);
    bucket.take(0);
    const granted = [60_000, 60_000, 60_000].map((now) => bucket.take(now));
    expect(granted).toEqual([0, 0, 10]);
  });
});

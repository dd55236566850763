import type { BucketLimit } from '../config/security-config.js';

/**
 * A token bucket: `take()` succeeds while tokens are left; tokens refill continuously at the rate, up to
 * the burst. Time comes from the caller (`performance.now()` in ms), which keeps it deterministic in tests.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly limit: BucketLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.updatedAt = now;
  }

  /** Time of the last refill, in ms. */
  get lastUsedAt(): number {
    return this.updatedAt;
  }

  /**
   * Takes one token.
   *
   * @returns 0 when granted, else how many ms until a token will be available.
   */
  take(now: number): number {
    this.tokens = Math.min(
      this.limit.burst,
      this.tokens + ((now - this.updatedAt) / 1000) * this.limit.ratePerSecond,
    );
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.limit.ratePerSecond) * 1000);
  }
}

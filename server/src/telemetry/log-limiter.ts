/**
 * Lets a burst of log lines of one kind through and then a steady trickle (a token bucket), counting what it
 * held back, so that a flood of refused calls — anyone can send invalid credentials — cannot turn into a
 * log storm that costs the CPU, disk and log pipeline the refusals were meant to save.
 */
export class LogLimiter {
  private tokens: number;
  private updatedAt = performance.now();
  private suppressed = 0;

  constructor(private readonly limit: { readonly ratePerSecond: number; readonly burst: number }) {
    this.tokens = limit.burst;
  }

  /**
   * Whether this line may be written; when it may after others were held back, how many were (to put on the
   * line, e.g. as `suppressed`), else 0.
   */
  admit(): { write: boolean; suppressed: number } {
    const now = performance.now();
    this.tokens = Math.min(
      this.limit.burst,
      this.tokens + ((now - this.updatedAt) / 1000) * this.limit.ratePerSecond,
    );
    this.updatedAt = now;
    if (this.tokens < 1) {
      this.suppressed++;
      return { write: false, suppressed: 0 };
    }
    this.tokens -= 1;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return { write: true, suppressed };
  }
}

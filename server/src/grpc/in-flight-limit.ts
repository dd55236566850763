/**
 * A call is admitted only if its deadline leaves this many times the expected wait. Waits vary: at 500
 * calls in flight their p99 was 2.5 times their mean (test/reliability/overload.test.ts).
 */
const DEADLINE_HEADROOM = 3;

/** Weight of the latest sample in the moving average of the time between two calls ending. */
const SMOOTHING = 0.02;

/** Why a call was refused. */
export type Refusal = 'overloaded' | 'too-busy-for-deadline';

/** Options for {@link InFlightLimit}. */
export interface InFlightLimitOptions {
  /** MAX_IN_FLIGHT: calls in flight beyond which new ones are refused. */
  readonly maxInFlight: number;
}

/**
 * Decides which unary calls the server takes, as they arrive:
 *
 * - never more than MAX_IN_FLIGHT at once (`overloaded`);
 * - not a call whose deadline is nearer than {@link DEADLINE_HEADROOM} times the time the server needs to
 *   get through the calls ahead of it — calls in flight × the time between two calls ending while busy,
 *   the inverse of the throughput whatever the calls cost (`too-busy-for-deadline`). Such a call would be
 *   answered after its client gave up, and under overload its work crowds out calls that can still make it.
 *   By Little's law the estimate is the time calls currently spend in the server; when they spend it
 *   waiting on the database rather than queueing for the CPU, a call that needs no database (inline
 *   features) is refused although it would be quick — only with a deadline under three times that wait.
 *
 * Times are `performance.now()` ms; pair every admitted call with one {@link ended}.
 */
export class InFlightLimit {
  private inFlight = 0;
  /** Moving average of the time between two calls ending while calls were in flight, in ms. */
  private gapMs = 0;
  private lastEndedAt = 0;
  private busySinceLastEnd = false;
  private readonly maxInFlight: number;

  constructor(options: InFlightLimitOptions) {
    this.maxInFlight = options.maxInFlight;
  }

  /** Calls admitted and not yet ended. */
  get size(): number {
    return this.inFlight;
  }

  /**
   * Admits a call with `budgetMs` left until its deadline, or says why not.
   *
   * @returns undefined when admitted (then call {@link ended} when it ends), else the refusal.
   */
  admit(budgetMs: number): Refusal | undefined {
    if (this.inFlight >= this.maxInFlight) return 'overloaded';
    // An idle server admits anything: the calls ahead of it, not the estimate, make the wait.
    if (this.inFlight > 0 && budgetMs < DEADLINE_HEADROOM * (this.inFlight + 1) * this.gapMs) {
      return 'too-busy-for-deadline';
    }
    if (this.inFlight === 0) this.busySinceLastEnd = false; // idle time is no measure of throughput
    this.inFlight++;
    return undefined;
  }

  /** An admitted call ended (answered, failed or cancelled), at `now`. */
  ended(now = performance.now()): void {
    if (this.busySinceLastEnd) this.gapMs += (now - this.lastEndedAt - this.gapMs) * SMOOTHING;
    this.inFlight--;
    this.lastEndedAt = now;
    this.busySinceLastEnd = this.inFlight > 0;
  }
}

import { describe, expect, it } from 'vitest';
import { InFlightLimit } from '../../server/src/grpc/in-flight-limit.js';

/** Fills the limit with `n` calls ending `gapMs` apart while busy, leaving `n - ended` in flight. */
function busy(limit: InFlightLimit, n: number, ended: number, gapMs: number): void {
  for (let i = 0; i < n; i++) expect(limit.admit(10_000)).toBeUndefined();
  for (let i = 1; i <= ended; i++) limit.ended(i * gapMs);
}

describe('InFlightLimit', () => {
  it('refuses calls beyond MAX_IN_FLIGHT and takes them again once calls end', () => {
    const limit = new InFlightLimit({ maxInFlight: 2 });
    expect(limit.admit(1_000)).toBeUndefined();
    expect(limit.admit(1_000)).toBeUndefined();
    expect(limit.admit(1_000)).toBe('overloaded');
    limit.ended(1);
    expect(limit.admit(1_000)).toBeUndefined();
    expect(limit.size).toBe(2);
  });

  it('refuses a call whose deadline is nearer than the saturated server can answer', () => {
    const limit = new InFlightLimit({ maxInFlight: 1_000 });
    // 400 calls ended 2 ms apart, 600 still in flight: ahead of a new call, 601 × 2 ms ≈ 1.2 s of work.
    busy(limit, 1_000, 400, 2);
    expect(limit.admit(1_000)).toBe('too-busy-for-deadline');
    expect(limit.admit(3 * 601 * 2 + 100)).toBeUndefined();
  });

  it('admits anything on an idle server, and does not count idle time as a measure of throughput', () => {
    const limit = new InFlightLimit({ maxInFlight: 10 });
    expect(limit.admit(1)).toBeUndefined();
    limit.ended(10);
    // A minute idle, then two calls: the first admitted whatever its deadline, the gap still ~0.
    expect(limit.admit(1)).toBeUndefined();
    limit.ended(60_010);
    expect(limit.admit(5)).toBeUndefined();
    expect(limit.admit(5)).toBeUndefined();
  });
});

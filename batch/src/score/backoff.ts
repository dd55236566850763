/** Exponential backoff settings. */
export interface BackoffOptions {
  /** Delay ceiling before the first retry, in ms. @default 200 */
  readonly initialDelayMs?: number;
  /** Largest delay ceiling, in ms. @default 5000 */
  readonly maxDelayMs?: number;
  /** Growth of the ceiling per failed attempt. @default 2 */
  readonly multiplier?: number;
}

/**
 * The delay before retry number `attempt` (0-based): "full jitter", a uniform draw below an exponentially
 * growing ceiling, so that many shards disconnected by one server restart do not reconnect in lockstep.
 *
 * @param random A uniform draw in [0, 1). @default Math.random
 * @returns milliseconds, at least 1.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const { initialDelayMs = 200, maxDelayMs = 5_000, multiplier = 2 } = options;
  const ceiling = Math.min(maxDelayMs, initialDelayMs * multiplier ** attempt);
  return Math.max(1, Math.round(random() * ceiling));
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { DatabasePool } from './rotating-pool.js';
import type { Logger } from '../telemetry/logger.js';

/**
 * Waits until the database answers `SELECT 1`, retrying with capped exponential backoff, so a pod that
 * starts a moment before its database (a fresh cluster, a failover) comes up instead of crash-looping.
 *
 * @throws the last connection error when `timeoutMs` passes without an answer.
 */
export async function waitForDatabase(
  pool: DatabasePool,
  options: { timeoutMs: number; logger: Logger },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 1, delayMs = 100; ; attempt++, delayMs = Math.min(delayMs * 2, 2_000)) {
    try {
      await pool.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() + delayMs > deadline) throw error;
      options.logger.warn({ err: error, attempt, retryInMs: delayMs }, 'database not reachable yet');
      await sleep(delayMs);
    }
  }
}

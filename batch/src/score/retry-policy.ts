import { ClientError, Status } from 'nice-grpc';

/**
 * A failure of one stream attempt that a new attempt may not hit: a server that drains or restarts, a
 * chunk whose customers met a briefly unavailable feature store. The runner reconnects and resumes from
 * the checkpoint.
 */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
}

/**
 * Statuses worth a new stream: the server went away or shed load (UNAVAILABLE, including "draining"),
 * a connection or the server cut the call (CANCELLED, e.g. after MAX_CONNECTION_AGE_GRACE_MS), or asked to
 * come back later (RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED). Scoring is idempotent, so any of these
 * is safe to retry. The same codes inside a per-item error mark that item as transient.
 */
export const RETRYABLE_STATUSES: ReadonlySet<Status> = new Set([
  Status.UNAVAILABLE,
  Status.CANCELLED,
  Status.RESOURCE_EXHAUSTED,
  Status.ABORTED,
  Status.DEADLINE_EXCEEDED,
]);

// SQLSTATE classes of failures that go away on their own: connection exceptions (08), operator
// intervention such as a restart or failover (57P), transaction rollbacks such as serialization failures
// and deadlocks (40), insufficient resources (53).
const TRANSIENT_SQLSTATE = /^(08|57P|40|53)/;
// Node socket errors of a connection to Postgres that went away.
const TRANSIENT_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Whether a new attempt may succeed where this error failed one. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof RetryableError) return true;
  if (error instanceof ClientError) return RETRYABLE_STATUSES.has(error.code);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return TRANSIENT_SQLSTATE.test(code) || TRANSIENT_SOCKET.has(code);
    // pg reports a connection closed mid-query without a code.
    return /Connection terminated|connection is closed|Client has encountered a connection error/i.test(
      error.message,
    );
  }
  return false;
}

import { ServerError, Status } from 'nice-grpc-common';
import { AppError } from '../errors.js';

/** Trailer carrying the stable error reason (e.g. `ERR_MODEL_NOT_FOUND`) next to the status. */
export const ERROR_REASON_TRAILER = 'ci-error-reason';

/** A status to send, the reason to put in the trailer, and whether the cause deserves an error log. */
export interface MappedError {
  readonly error: ServerError;
  readonly reason: string;
  /** True for failures the server did not expect (they become INTERNAL and are logged with their cause). */
  readonly unexpected: boolean;
}

/** Postgres/network failures that mean "the database is not reachable right now". */
const UNAVAILABLE_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EOPENBREAKER',
]);

/**
 * The one place that turns any thrown value into a gRPC status.
 *
 * - `AppError` (the error catalog) keeps its status, message and reason;
 * - `ServerError` (thrown by library services such as health) passes through;
 * - aborts become DEADLINE_EXCEEDED when a timeout fired, UNAVAILABLE when the server is cutting calls
 *   short to shut down, and CANCELLED otherwise (the client went away);
 * - an open breaker or a refused connection becomes UNAVAILABLE;
 * - anything else is INTERNAL with a generic message: the cause is logged, never sent to the client.
 */
export function toServerError(thrown: unknown, state: { shuttingDown: boolean }): MappedError {
  if (thrown instanceof AppError) {
    return {
      error: new ServerError(thrown.status, thrown.message),
      reason: thrown.reason,
      unexpected: thrown.status === Status.INTERNAL,
    };
  }
  if (thrown instanceof ServerError) return { error: thrown, reason: 'ERR_SERVER', unexpected: false };
  if (isAbortError(thrown) || isTimeoutError(thrown)) {
    if (isTimeoutError(thrown)) {
      return {
        error: new ServerError(
          Status.DEADLINE_EXCEEDED,
          'deadline exceeded (REQUEST_TIMEOUT_MS or the client deadline)',
        ),
        reason: 'ERR_DEADLINE_EXCEEDED',
        unexpected: false,
      };
    }
    if (state.shuttingDown) {
      return {
        error: new ServerError(Status.UNAVAILABLE, 'the server is shutting down; retry on another instance'),
        reason: 'ERR_SHUTTING_DOWN',
        unexpected: false,
      };
    }
    return {
      error: new ServerError(Status.CANCELLED, 'the call was cancelled'),
      reason: 'ERR_CANCELLED',
      unexpected: false,
    };
  }
  const code = (thrown as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_ERROR_CODES.has(code)) {
    return {
      error: new ServerError(Status.UNAVAILABLE, 'a dependency is unavailable; retry later'),
      reason: 'ERR_DEPENDENCY_UNAVAILABLE',
      unexpected: false,
    };
  }
  return {
    error: new ServerError(Status.INTERNAL, 'internal error; the server logged the cause'),
    reason: 'ERR_INTERNAL',
    unexpected: true,
  };
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function isTimeoutError(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError';
}

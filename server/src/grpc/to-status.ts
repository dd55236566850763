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
 *
 * Messages are made sendable on the way (see `sendable`): they quote the request.
 */
export function toServerError(thrown: unknown, state: { shuttingDown: boolean }): MappedError {
  if (thrown instanceof AppError) {
    return {
      error: statusError(thrown.status, sendable(thrown.message)),
      reason: thrown.reason,
      unexpected: thrown.status === Status.INTERNAL,
    };
  }
  if (thrown instanceof ServerError) {
    const details = sendable(thrown.details);
    const error = details === thrown.details ? thrown : statusError(thrown.code, details);
    return { error, reason: 'ERR_SERVER', unexpected: false };
  }
  if (isAbortError(thrown) || isTimeoutError(thrown)) {
    if (isTimeoutError(thrown)) {
      return {
        error: statusError(
          Status.DEADLINE_EXCEEDED,
          'deadline exceeded (REQUEST_TIMEOUT_MS or the client deadline)',
        ),
        reason: 'ERR_DEADLINE_EXCEEDED',
        unexpected: false,
      };
    }
    if (state.shuttingDown) {
      return {
        error: statusError(Status.UNAVAILABLE, 'the server is shutting down; retry on another instance'),
        reason: 'ERR_SHUTTING_DOWN',
        unexpected: false,
      };
    }
    return {
      error: statusError(Status.CANCELLED, 'the call was cancelled'),
      reason: 'ERR_CANCELLED',
      unexpected: false,
    };
  }
  const code = (thrown as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_ERROR_CODES.has(code)) {
    return {
      error: statusError(Status.UNAVAILABLE, 'a dependency is unavailable; retry later'),
      reason: 'ERR_DEPENDENCY_UNAVAILABLE',
      unexpected: false,
    };
  }
  return {
    error: statusError(Status.INTERNAL, 'internal error; the server logged the cause'),
    reason: 'ERR_INTERNAL',
    unexpected: true,
  };
}

/** Longest status message sent, in UTF-16 code units; longer ones are cut. */
export const MAX_STATUS_DETAILS = 1_000;

/** Unpaired UTF-16 surrogates (in a `u` regex a class of surrogates matches only unpaired ones). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/**
 * A status message grpc-js can send. Messages quote the request (a model name, a version, a service
 * name), and the `grpc-message` trailer is sent through `encodeURI`: a 100 kB model name made a trailer
 * beyond Node's 64 KiB header block, so the call never ended and stalled the other calls of its
 * connection; an unpaired surrogate (a name cut inside an emoji) made `encodeURI` throw a URIError that
 * crashed the process. Both found by test/reliability/fuzz.test.ts; pinned in bad-input.test.ts.
 */
function sendable(details: string): string {
  const cut =
    details.length > MAX_STATUS_DETAILS ? `${details.slice(0, MAX_STATUS_DETAILS)}… (cut)` : details;
  return cut.replace(LONE_SURROGATE, '\uFFFD');
}

/**
 * A `ServerError` without a stack trace. Its stack is never read (the cause is what gets logged), yet
 * nice-grpc's error base class captures and formats one on construction — source-mapped under tsx — which
 * was the largest single cost of a shed call in the profile (`test/reliability/overload.test.ts`).
 */
function statusError(code: Status, details: string): ServerError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new ServerError(code, details);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function isTimeoutError(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError';
}

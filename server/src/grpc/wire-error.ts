import { ServerError, Status } from 'nice-grpc-common';
import { AppError, errors, type ErrorReason } from '../errors.js';
import type { ItemError } from '../../../gen/customer_intelligence/scoring/v1/scoring.js';

/** Trailer carrying the stable error reason (e.g. `ERR_MODEL_NOT_FOUND`) next to the status. */
export const ERROR_REASON_TRAILER = 'ci-error-reason';

/** What is sent for a failure: a status, a stable reason, a message a client may read. */
export interface WireError {
  readonly status: Status;
  readonly reason: ErrorReason;
  readonly message: string;
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
 * What pg-pool throws when no connection frees up within `connectionTimeoutMillis` (it sets no code): the
 * database is saturated or unreachable, which the caller may retry, not a fault of this server.
 */
const POOL_CONNECT_TIMEOUT = 'timeout exceeded when trying to connect';

/**
 * The one place that turns any thrown value into what is sent: a call's status (the call pipeline's
 * error mapping, early admission), a per-item error of Score and ScoreStream, a V2 stream response's
 * `error_message`.
 *
 * - `AppError` (the error catalog, `errors.ts`) keeps its status, message and reason;
 * - `ServerError` (thrown by library services such as health) passes through;
 * - aborts become DEADLINE_EXCEEDED when a timeout fired, UNAVAILABLE when the server is cutting calls
 *   short to shut down, and CANCELLED otherwise (the client went away);
 * - an open breaker, a refused connection or a pool that gave no connection in time becomes UNAVAILABLE;
 * - anything else is INTERNAL with a generic message: the cause is logged, never sent to the client.
 *
 * Messages are made sendable on the way (see `sendable`): they quote the request.
 */
export function toWireError(
  thrown: unknown,
  state: { shuttingDown: boolean } = NOT_SHUTTING_DOWN,
): WireError {
  if (thrown instanceof ServerError) {
    return {
      status: thrown.code,
      reason: 'ERR_SERVER',
      message: sendable(thrown.details),
      unexpected: false,
    };
  }
  const error = thrown instanceof AppError ? thrown : withoutStack(() => catalogued(thrown, state));
  return {
    status: error.status,
    reason: error.reason,
    message: sendable(error.message),
    unexpected: error.status === Status.INTERNAL,
  };
}

const NOT_SHUTTING_DOWN = { shuttingDown: false };

/** The catalogued error a thrown non-`AppError` stands for. */
function catalogued(thrown: unknown, state: { shuttingDown: boolean }): AppError {
  if (isTimeoutError(thrown)) return errors.deadlineExceeded('(REQUEST_TIMEOUT_MS or the client deadline)');
  if (isAbortError(thrown)) return state.shuttingDown ? errors.shuttingDown() : errors.cancelled();
  const code = (thrown as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_ERROR_CODES.has(code))
    return errors.dependencyUnavailable(thrown);
  if (thrown instanceof Error && thrown.message === POOL_CONNECT_TIMEOUT)
    return errors.dependencyUnavailable(thrown);
  return errors.internal(thrown);
}

/** A call's status: {@link WireError} as the `ServerError` nice-grpc sends (the reason goes in the trailer). */
export function toServerError(wire: WireError): ServerError {
  return statusError(wire.status, wire.message);
}

/** A per-item error of Score / ScoreStream (`ItemError` in scoring.proto). */
export function toItemError(wire: WireError): ItemError {
  return { code: wire.status, reason: wire.reason, message: wire.message };
}

/** A V2 stream response's `error_message`, `<STATUS>: <message>` as Triton writes it. */
export function toV2ErrorMessage(wire: WireError): string {
  return `${Status[wire.status]}: ${wire.message}`;
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
  return withoutStack(() => new ServerError(code, details));
}

/** Builds an error without capturing a stack (see {@link statusError}); aborts under load are many too. */
function withoutStack<E extends Error>(build: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
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

import { Status } from 'nice-grpc-common';

/**
 * The error catalog: every error the server sends on purpose, with its gRPC status and a stable
 * machine-readable reason (the `ci-error-reason` trailer, or `reason` of a per-item error). Clients may
 * branch on `reason`; messages are for humans and may change.
 *
 * Domain code throws `AppError`s made by the factories below; only `server/src/grpc/wire-error.ts` turns
 * what was thrown into what is sent, for calls, stream items and V2 stream responses alike.
 */

/** Every reason the server sends. One factory per reason, so a reason means one thing to clients. */
export type ErrorReason =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_MALFORMED_REQUEST'
  | 'ERR_MODEL_NOT_FOUND'
  | 'ERR_MODEL_VERSION_NOT_FOUND'
  | 'ERR_VERSION_EXISTS'
  | 'ERR_NO_PREVIOUS_VERSION'
  | 'ERR_VERSION_FAILED'
  | 'ERR_MODEL_SWITCHED_OFF'
  | 'ERR_VERSION_LOADING'
  | 'ERR_CUSTOMER_NOT_FOUND'
  | 'ERR_FEATURES_MISSING'
  | 'ERR_FEATURE_STORE_UNAVAILABLE'
  | 'ERR_NOT_SERVING'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_DEADLINE_EXCEEDED'
  | 'ERR_CANCELLED'
  | 'ERR_UNAUTHENTICATED'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_PRINCIPAL_STREAM_LIMIT'
  | 'ERR_OVERLOADED'
  | 'ERR_STREAM_LIMIT'
  | 'ERR_MODEL_RETIRED'
  | 'ERR_MODEL_LOAD_FAILED'
  | 'ERR_INFERENCE_FAILED'
  | 'ERR_DEPENDENCY_UNAVAILABLE'
  | 'ERR_TOKEN_KEYS_UNAVAILABLE'
  | 'ERR_INTERNAL'
  /** A `ServerError` thrown by a library service (health, reflection), passed through as it is. */
  | 'ERR_SERVER';

export class AppError extends Error {
  override readonly name = 'AppError';

  constructor(
    /** gRPC status code sent to the client. */
    readonly status: Status,
    /** Stable reason, e.g. `ERR_MODEL_NOT_FOUND`. */
    readonly reason: ErrorReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Factories for every catalogued error, so call sites read as sentences and reasons stay unique. */
export const errors = {
  invalidArgument: (field: string, problem: string) =>
    new AppError(Status.INVALID_ARGUMENT, 'ERR_INVALID_ARGUMENT', `${field}: ${problem}`),
  malformedRequest: (method: string, problem: string) =>
    new AppError(
      Status.INVALID_ARGUMENT,
      'ERR_MALFORMED_REQUEST',
      `request: not a valid request message of ${method} (${problem})`,
    ),
  modelNotFound: (name: string, known: readonly string[]) =>
    new AppError(
      Status.NOT_FOUND,
      'ERR_MODEL_NOT_FOUND',
      `model "${name}" is not served (served models: ${known.join(', ') || 'none'})`,
    ),
  modelVersionNotFound: (name: string, version: string, known: readonly string[]) =>
    new AppError(
      Status.NOT_FOUND,
      'ERR_MODEL_VERSION_NOT_FOUND',
      `model "${name}" has no version "${version}" (versions: ${known.join(', ')})`,
    ),
  versionExists: (model: string, version: string) =>
    new AppError(Status.ALREADY_EXISTS, 'ERR_VERSION_EXISTS', `${model}@${version} is already registered`),
  noPreviousVersion: (model: string) =>
    new AppError(
      Status.FAILED_PRECONDITION,
      'ERR_NO_PREVIOUS_VERSION',
      `model "${model}" has no previous version to roll back to`,
    ),
  versionFailed: (model: string, version: string, reason: string) =>
    new AppError(
      Status.FAILED_PRECONDITION,
      'ERR_VERSION_FAILED',
      `${model}@${version} cannot be loaded, so it cannot serve: ${reason}`,
    ),
  modelSwitchedOff: (model: string, reason: string) =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_MODEL_SWITCHED_OFF',
      `model "${model}" is switched off${reason === '' ? '' : `: ${reason}`}`,
    ),
  versionLoading: (model: string, version: string) =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_VERSION_LOADING',
      `${model}@${version} is registered but not loaded on this replica yet; it is loading now, retry shortly`,
    ),
  customerNotFound: (customerId: string) =>
    new AppError(
      Status.NOT_FOUND,
      'ERR_CUSTOMER_NOT_FOUND',
      `customer "${customerId}" is not in the feature store`,
    ),
  featuresMissing: (customerId: string, missing: readonly string[]) =>
    new AppError(
      Status.FAILED_PRECONDITION,
      'ERR_FEATURES_MISSING',
      `customer "${customerId}" has no stored value for ${missing.join(', ')}; send them inline`,
    ),
  featureStoreUnavailable: (cause?: unknown) =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_FEATURE_STORE_UNAVAILABLE',
      'the feature store is unavailable; retry later or send the features inline',
      { cause },
    ),
  notServing: (state: string) =>
    new AppError(Status.UNAVAILABLE, 'ERR_NOT_SERVING', `the server is ${state} and takes no new calls`),
  /** Aborts while the server drains: the call was cut short, another replica can take it. */
  shuttingDown: () =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_SHUTTING_DOWN',
      'the server is shutting down; retry on another instance',
    ),
  deadlineExceeded: (what: string) =>
    new AppError(Status.DEADLINE_EXCEEDED, 'ERR_DEADLINE_EXCEEDED', `deadline exceeded ${what}`),
  cancelled: () => new AppError(Status.CANCELLED, 'ERR_CANCELLED', 'the call was cancelled'),
  unauthenticated: (problem: string) => new AppError(Status.UNAUTHENTICATED, 'ERR_UNAUTHENTICATED', problem),
  permissionDenied: (
    principal: string,
    roles: readonly string[],
    method: string,
    allowed: readonly string[],
  ) =>
    new AppError(
      Status.PERMISSION_DENIED,
      'ERR_PERMISSION_DENIED',
      `${principal} (roles: ${roles.join(', ') || 'none'}) may not call ${method} (allowed: ${allowed.join(', ') || 'nobody'})`,
    ),
  rateLimited: (principal: string, retryAfterMs: number) =>
    new AppError(
      Status.RESOURCE_EXHAUSTED,
      'ERR_RATE_LIMITED',
      `rate limit of ${principal} exceeded; retry in ${retryAfterMs} ms (RATE_LIMITS)`,
    ),
  /** The principal has MAX_STREAMS_PER_PRINCIPAL streams open: another one waits until one of them ends. */
  principalStreamLimit: (principal: string, maxStreams: number) =>
    new AppError(
      Status.RESOURCE_EXHAUSTED,
      'ERR_PRINCIPAL_STREAM_LIMIT',
      `${principal} has its limit of ${maxStreams} streams open (MAX_STREAMS_PER_PRINCIPAL); retry when one has ended`,
    ),
  /**
   * Load shed before any work: MAX_IN_FLIGHT calls are in flight, or the call's deadline is nearer than
   * the saturated server could answer. Either way the remedy is the same, hence one reason.
   */
  overloaded: (why: { maxInFlight: number } | 'deadline-too-near') =>
    new AppError(
      Status.RESOURCE_EXHAUSTED,
      'ERR_OVERLOADED',
      why === 'deadline-too-near'
        ? 'the server is too busy to answer before the call deadline; retry with backoff or a longer deadline'
        : `the server is at its limit of ${why.maxInFlight} calls in flight (MAX_IN_FLIGHT); retry with backoff`,
    ),
  /** MAX_STREAMS stream calls are open: the server takes no more until one ends. */
  streamLimit: (maxStreams: number) =>
    new AppError(
      Status.RESOURCE_EXHAUSTED,
      'ERR_STREAM_LIMIT',
      `the server has its limit of ${maxStreams} streams open (MAX_STREAMS); retry with backoff`,
    ),
  modelRetired: (model: string, version: string) =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_MODEL_RETIRED',
      `${model}@${version} was unloaded or replaced while this call was running; retry`,
    ),
  modelLoadFailed: (model: string, problem: string) =>
    new AppError(
      Status.FAILED_PRECONDITION,
      'ERR_MODEL_LOAD_FAILED',
      `model "${model}" cannot be loaded (what is served stays as it was): ${problem}`,
    ),
  inferenceFailed: (model: string, cause: unknown) =>
    new AppError(Status.INTERNAL, 'ERR_INFERENCE_FAILED', `inference failed for model "${model}"`, {
      cause,
    }),
  /** Postgres or the network refused (an open breaker, a refused connection) outside the feature store. */
  dependencyUnavailable: (cause: unknown) =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_DEPENDENCY_UNAVAILABLE',
      'a dependency is unavailable; retry later',
      {
        cause,
      },
    ),
  /** The issuer's signing keys (JWT_JWKS_URL) could not be fetched: the token may be fine, the server cannot tell. */
  tokenKeysUnavailable: (problem: string) =>
    new AppError(
      Status.UNAVAILABLE,
      'ERR_TOKEN_KEYS_UNAVAILABLE',
      `the token issuer's keys cannot be fetched (${problem}); retry later`,
    ),
  /** Anything the server did not expect: the cause is logged, never sent. */
  internal: (cause: unknown) =>
    new AppError(Status.INTERNAL, 'ERR_INTERNAL', 'internal error; the server logged the cause', { cause }),
} as const;

import { Status } from 'nice-grpc-common';

/**
 * The error catalog: every error the domain code throws on purpose, with its gRPC status and a stable
 * machine-readable reason. Clients may branch on `reason`; messages are for humans and may change.
 *
 * Only `server/src/grpc/to-status.ts` turns errors into gRPC statuses; domain code throws `AppError`.
 */
export class AppError extends Error {
  override readonly name = 'AppError';

  constructor(
    /** gRPC status code sent to the client. */
    readonly status: Status,
    /** Stable reason, e.g. `ERR_MODEL_NOT_FOUND`. */
    readonly reason: string,
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
  deadlineExceeded: (what: string) =>
    new AppError(Status.DEADLINE_EXCEEDED, 'ERR_DEADLINE_EXCEEDED', `deadline exceeded ${what}`),
  cancelled: () => new AppError(Status.CANCELLED, 'ERR_CANCELLED', 'the call was cancelled by the client'),
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
  overloaded: (limit: number) =>
    new AppError(
      Status.RESOURCE_EXHAUSTED,
      'ERR_OVERLOADED',
      `the server is at its limit of ${limit} calls in flight (MAX_IN_FLIGHT); retry with backoff`,
    ),
  tooBusyForDeadline: () =>
    new AppError(
      Status.RESOURCE_EXHAUSTED,
      'ERR_OVERLOADED',
      'the server is too busy to answer before the call deadline; retry with backoff or a longer deadline',
    ),
  modelNotInRepository: (name: string, known: readonly string[]) =>
    new AppError(
      Status.NOT_FOUND,
      'ERR_MODEL_NOT_FOUND',
      `the model repository has no model "${name}" (models: ${known.join(', ') || 'none'})`,
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
} as const;

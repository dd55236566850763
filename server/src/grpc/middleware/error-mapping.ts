import { Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { Logger } from '../../telemetry/logger.js';
import { ERROR_REASON_TRAILER, toServerError } from '../to-status.js';
import type { TraceContext } from './trace-context.js';

/** Statuses that mean "the server or a dependency is in trouble" rather than "the request was wrong". */
const SERVER_SIDE = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED]);

/**
 * Outermost middleware: whatever a handler throws leaves as a proper gRPC status (see `toServerError`),
 * with the stable reason in the `ci-error-reason` trailer. Unexpected errors are logged with their cause
 * and method; the client only learns that something went wrong.
 */
export function errorMappingMiddleware(deps: { logger: Logger; lifecycle: Lifecycle }) {
  const { logger, lifecycle } = deps;
  return async function* errorMapping<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      return yield* call.next(call.request, context);
    } catch (thrown) {
      const mapped = toServerError(thrown, { shuttingDown: lifecycle.state !== 'serving' });
      context.trailer.set(ERROR_REASON_TRAILER, mapped.reason);
      const trace = (context as CallContext & Partial<TraceContext>).trace;
      const fields = {
        method: call.method.path,
        peer: context.peer,
        code: Status[mapped.error.code],
        ...(trace && { trace_id: trace.traceId }),
      };
      if (mapped.unexpected) logger.error({ ...fields, err: thrown }, 'call failed unexpectedly');
      else if (SERVER_SIDE.has(mapped.error.code))
        logger.warn({ ...fields, details: mapped.error.details }, 'call failed');
      else logger.debug({ ...fields, details: mapped.error.details }, 'call rejected');
      throw mapped.error;
    }
  };
}

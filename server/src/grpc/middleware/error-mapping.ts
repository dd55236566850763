import { Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { Logger } from '../../telemetry/logger.js';
import { rejectMalformed } from '../malformed-request.js';
import type { ErrorReason } from '../../errors.js';
import { ERROR_REASON_TRAILER, toServerError, toWireError } from '../wire-error.js';
import type { TraceContext } from './trace-context.js';

/** Statuses that mean "the server or a dependency is in trouble" rather than "the request was wrong". */
const SERVER_SIDE = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED]);

/**
 * Admission refusals: load shed, a rate limit, a server starting or draining. They are counted by status
 * in `grpc_server_handled_total`, and logged at debug only: under overload a warn line per refused call is
 * a log storm that costs the CPU the shedding was meant to save, and a synchronous stdout write blocks the
 * event loop outright once the pipe is full (`test/reliability/overload.test.ts`).
 */
const ADMISSION_REFUSALS = new Set<ErrorReason>(['ERR_OVERLOADED', 'ERR_RATE_LIMITED', 'ERR_NOT_SERVING']);

/**
 * Outermost middleware: whatever a handler throws leaves as a proper gRPC status (see `toWireError`),
 * with the stable reason in the `ci-error-reason` trailer. Unexpected errors are logged with their cause
 * and method; the client only learns that something went wrong. A request that did not decode fails here
 * with INVALID_ARGUMENT (see `malformed-request.ts`), before admission looks at the call.
 */
export function errorMappingMiddleware(deps: { logger: Logger; lifecycle: Lifecycle }) {
  const { logger, lifecycle } = deps;
  return async function* errorMapping<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      return yield* call.next(rejectMalformed(call), context);
    } catch (thrown) {
      const wire = toWireError(thrown, { shuttingDown: lifecycle.state !== 'serving' });
      context.trailer.set(ERROR_REASON_TRAILER, wire.reason);
      const trace = (context as CallContext & Partial<TraceContext>).trace;
      const fields = {
        method: call.method.path,
        peer: context.peer,
        code: Status[wire.status],
        ...(trace && { trace_id: trace.traceId }),
      };
      if (wire.unexpected) logger.error({ ...fields, err: thrown }, 'call failed unexpectedly');
      else if (SERVER_SIDE.has(wire.status) && !ADMISSION_REFUSALS.has(wire.reason))
        logger.warn({ ...fields, details: wire.message }, 'call failed');
      else logger.debug({ ...fields, details: wire.message }, 'call rejected');
      throw toServerError(wire);
    }
  };
}

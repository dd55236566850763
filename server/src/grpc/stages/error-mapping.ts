import { Status, type CallContext, type ServerError } from 'nice-grpc-common';
import type { CallPlan } from '../call-plan.js';
import type { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ErrorReason } from '../../errors.js';
import { ERROR_REASON_TRAILER, toServerError, toWireError } from '../wire-error.js';
import type { GuardedCall } from './admission.js';

/** Statuses that mean "the server or a dependency is in trouble" rather than "the request was wrong". */
const SERVER_SIDE = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED]);

/**
 * Admission refusals: load shed, a rate limit or stream cap, a server starting or draining. They are counted by status
 * in `grpc_server_handled_total`, and logged at debug only: under overload a warn line per refused call is
 * a log storm that costs the CPU the shedding was meant to save, and a synchronous stdout write blocks the
 * event loop outright once the pipe is full (`test/reliability/overload.test.ts`).
 */
const ADMISSION_REFUSALS = new Set<ErrorReason>([
  'ERR_OVERLOADED',
  'ERR_RATE_LIMITED',
  'ERR_PRINCIPAL_STREAM_LIMIT',
  'ERR_STREAM_LIMIT',
  'ERR_NOT_SERVING',
]);

/** Turns whatever a call threw into the status the client gets, logging it as it deserves. */
export type ErrorMapper = (
  thrown: unknown,
  call: GuardedCall,
  context: CallContext,
  trace: CallPlan['trace'],
) => ServerError;

/**
 * Whatever a handler or a guard throws leaves as a proper gRPC status (see `toWireError`), with the stable
 * reason in the `ci-error-reason` trailer. Unexpected errors are logged with their cause and method; the
 * client only learns that something went wrong.
 */
export function errorMapper(deps: { logger: Logger; lifecycle: Lifecycle }): ErrorMapper {
  const { logger, lifecycle } = deps;
  return (thrown, call, context, trace) => {
    const wire = toWireError(thrown, { shuttingDown: lifecycle.state !== 'serving' });
    context.trailer.set(ERROR_REASON_TRAILER, wire.reason);
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
    return toServerError(wire);
  };
}

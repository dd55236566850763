import { Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { CallPlanContext } from './call-plan.js';
import { rejectMalformed } from './malformed-request.js';
import type { Admit, Admitted } from './stages/admission.js';
import type { ErrorMapper } from './stages/error-mapping.js';
import type { CallEnded } from './stages/metrics.js';
import type { TraceStage } from './stages/trace-context.js';
import type { GuardedCall } from './stages/admission.js';

/** The stages a service's calls pass, in the order they run. */
export interface CallStages {
  /** Counts and times the call (`stages/metrics.ts`); absent with METRICS_ENABLED=false. */
  readonly meter: ((call: GuardedCall) => CallEnded) | undefined;
  /** The call's trace: a server span (`stages/tracing.ts`) or just the caller's trace id. */
  readonly trace: TraceStage;
  /** The guards (`stages/admission.ts`), which build the call plan. */
  readonly admit: Admit;
  /** Whatever is thrown becomes a status (`stages/error-mapping.ts`). */
  readonly mapError: ErrorMapper;
}

/**
 * Every RPC's way from nice-grpc to its handler, as one middleware: metered, traced, the request checked
 * (a request that did not decode is INVALID_ARGUMENT, see `malformed-request.ts`), admitted by the guards,
 * handed its call plan as `context.plan`, and whatever is thrown on the way mapped to the status the client
 * gets — which the meter and the span then record.
 *
 * One middleware instead of one per concern: each nice-grpc middleware is an async generator around the
 * next, with its own copy of the context, and four of them cost more per call than the inference. The
 * stages are plain functions, each in its own file, and the handler is stepped here directly.
 */
export function callPipeline(stages: CallStages) {
  const { meter, trace: startTrace, admit, mapError } = stages;
  return async function* pipeline<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, CallPlanContext>,
    context: CallContext,
  ) {
    const ended = meter?.(call);
    const traced = startTrace(call, context);
    let code = Status.OK;
    let error;
    let admitted: Admitted | undefined;
    let handler: AsyncGenerator<Response, Response | void, undefined> | undefined;
    try {
      const request = rejectMalformed(call);
      const verdict = admit(call, context, traced.trace);
      admitted = verdict instanceof Promise ? await verdict : verdict;
      handler = call.next(request, { ...context, plan: admitted.plan });
      // A unary call's handler returns at its first step; a stream's steps are its messages.
      for (;;) {
        const current = handler;
        const step = await traced.run(() => current.next());
        if (step.done === true) return step.value;
        yield step.value;
      }
    } catch (thrown) {
      error = mapError(thrown, call, context, traced.trace);
      code = error.code;
      throw error;
    } finally {
      // A stream the client left early: the handler's own cleanup runs before the call counts as ended.
      if (call.responseStream) await handler?.return(undefined).catch(() => undefined);
      admitted?.release();
      traced.end(code, error);
      ended?.(code);
    }
  };
}

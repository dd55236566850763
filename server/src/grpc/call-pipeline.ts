import { Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { CallPlanContext } from './call-plan.js';
import type { UnaryCallContext } from './call-context.js';
import { rejectMalformed, rejectMalformedItems } from './malformed-request.js';
import type { Admit, Admitted, GuardedCall } from './stages/admission.js';
import type { ErrorMapper } from './stages/error-mapping.js';
import type { CallEnded } from './stages/metrics.js';
import type { TraceStage } from './stages/trace-context.js';

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

/** A unary handler behind the pipeline. */
export type UnaryHandler = (request: unknown, context: UnaryCallContext) => Promise<unknown>;

/**
 * Every RPC's way to its handler: metered, traced, the request checked (a request that did not decode is
 * INVALID_ARGUMENT, see `malformed-request.ts`), admitted by the guards, handed its call plan as
 * `context.plan`, and whatever is thrown on the way mapped to the status the client gets — which the meter
 * and the span then record. The stages are plain functions, each in its own file.
 *
 * It has two doors onto the same stages, because the two kinds of call arrive differently
 * (`grpc-host.ts`): `unary` is called straight from the grpc-js handler, one async function per call;
 * `streams` is the same thing as a nice-grpc middleware, which nice-grpc's stream handlers step message by
 * message.
 */
export interface CallPipeline {
  unary(
    call: GuardedCall,
    request: unknown,
    context: UnaryCallContext,
    handler: UnaryHandler,
  ): Promise<unknown>;
  readonly streams: <Request, Response>(
    call: ServerMiddlewareCall<Request, Response, CallPlanContext>,
    context: CallContext,
  ) => AsyncGenerator<Response, Response | void, undefined>;
}

export function callPipeline(stages: CallStages): CallPipeline {
  const { meter, trace: startTrace, admit, mapError } = stages;
  return {
    async unary(call, request, context, handler) {
      const ended = meter?.(call);
      const traced = startTrace(call, context);
      let code = Status.OK;
      let error;
      let admitted: Admitted | undefined;
      try {
        rejectMalformed(call.method.path, request);
        const verdict = admit(call, context, traced.trace);
        admitted = verdict instanceof Promise ? await verdict : verdict;
        context.plan = admitted.plan;
        return await traced.run(() => handler(request, context));
      } catch (thrown) {
        error = mapError(thrown, call, context, traced.trace);
        code = error.code;
        throw error;
      } finally {
        admitted?.release();
        traced.end(code, error);
        ended?.(code);
      }
    },

    async *streams<Request, Response>(
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
        const request = call.requestStream
          ? rejectMalformedItems(call.request, call.method.path)
          : (rejectMalformed(call.method.path, call.request), call.request);
        const verdict = admit(call, context, traced.trace);
        admitted = verdict instanceof Promise ? await verdict : verdict;
        handler = call.next(request, { ...context, plan: admitted.plan });
        // A server stream's handler yields its messages; a unary one (none come this way) would return.
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
    },
  };
}

import { Status, type CallContext, type ServerError, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { CallPlan, CallPlanContext } from './call-plan.js';
import type { UnaryCallContext } from './call-context.js';
import { rejectMalformed, rejectMalformedItems } from './malformed-request.js';
import type { Admit, Admitted, GuardedCall } from './stages/admission.js';
import type { ErrorMapper } from './stages/error-mapping.js';
import type { CallEnded } from './stages/metrics.js';
import type { CallTrace, TraceStage } from './stages/trace-context.js';

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
  return {
    async unary(call, request, context, handler) {
      const run = new CallRun(stages, call, context);
      try {
        rejectMalformed(call.method.path, request);
        const admitted = run.admit();
        context.plan = admitted instanceof Promise ? await admitted : admitted;
        return await run.step(() => handler(request, context));
      } catch (thrown) {
        throw run.fail(thrown);
      } finally {
        run.end();
      }
    },

    async *streams<Request, Response>(
      call: ServerMiddlewareCall<Request, Response, CallPlanContext>,
      context: CallContext,
    ) {
      const run = new CallRun(stages, call, context);
      let handler: AsyncGenerator<Response, Response | void, undefined> | undefined;
      try {
        const request = call.requestStream
          ? rejectMalformedItems(call.request, call.method.path)
          : (rejectMalformed(call.method.path, call.request), call.request);
        const admitted = run.admit();
        const plan = admitted instanceof Promise ? await admitted : admitted;
        handler = call.next(request, { ...context, plan });
        // A server stream's handler yields its messages; a unary one (none come this way) would return.
        for (;;) {
          const current = handler;
          const step = await run.step(() => current.next());
          if (step.done === true) return step.value;
          yield step.value;
        }
      } catch (thrown) {
        throw run.fail(thrown);
      } finally {
        // A stream the client left early: the handler's own cleanup runs before the call counts as ended.
        if (call.responseStream) await handler?.return(undefined).catch(() => undefined);
        run.end();
      }
    },
  };
}

/**
 * One call through the stages, whichever door it came in by: metered and traced from its start,
 * admitted (synchronously unless a guard waits), its steps run in its trace, a failure mapped to the
 * status the client gets, and at the end the guards' holds released and the meter and span given that
 * status.
 */
class CallRun {
  private readonly ended: CallEnded | undefined;
  private readonly traced: CallTrace;
  private admitted: Admitted | undefined;
  private code = Status.OK;
  private error: ServerError | undefined;

  constructor(
    private readonly stages: CallStages,
    private readonly call: GuardedCall,
    private readonly context: CallContext,
  ) {
    this.ended = stages.meter?.(call);
    this.traced = stages.trace(call, context);
  }

  admit(): CallPlan | Promise<CallPlan> {
    const verdict = this.stages.admit(this.call, this.context, this.traced.trace);
    if (!(verdict instanceof Promise)) return this.admittedWith(verdict);
    return verdict.then((admitted) => this.admittedWith(admitted));
  }

  step<T>(work: () => T): T {
    return this.traced.run(work);
  }

  fail(thrown: unknown): ServerError {
    this.error = this.stages.mapError(thrown, this.call, this.context, this.traced.trace);
    this.code = this.error.code;
    return this.error;
  }

  end(): void {
    this.admitted?.release();
    this.traced.end(this.code, this.error);
    this.ended?.(this.code);
  }

  private admittedWith(admitted: Admitted): CallPlan {
    this.admitted = admitted;
    return admitted.plan;
  }
}

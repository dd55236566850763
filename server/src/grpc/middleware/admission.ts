import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { priorityOf } from '../../security/method-roles.js';
import type { CallPlan, CallPlanContext } from '../call-plan.js';
import type { TraceContext } from './trace-context.js';

/** What the guards establish, in order, on the way to the {@link CallPlan}. */
export type AdmissionContext = Pick<CallPlan, 'principal' | 'deadline'>;

/** The call a guard looks at. */
export type GuardedCall = Pick<
  ServerMiddlewareCall<unknown, unknown>,
  'method' | 'requestStream' | 'responseStream'
>;

/** A guard's verdict when it lets the call in: context to add, and what to do when the call ends. */
export interface Admitted {
  readonly context?: Partial<AdmissionContext>;
  readonly release?: () => void;
}

/**
 * One admission check (lifecycle, authentication, authorization, rate limit, deadline): it
 * throws an `AppError` to refuse the call, or lets it in. Guards are plain functions, run in order by
 * {@link admissionMiddleware}, and see what earlier guards added to the context.
 */
export type Guard = (
  call: GuardedCall,
  context: CallContext & Partial<AdmissionContext>,
) => Admitted | undefined | Promise<Admitted | undefined>;

/**
 * Runs `guards` in order before the handler, as one middleware, then hands the handler its
 * {@link CallPlan}. Each nice-grpc middleware is an async generator wrapped around the next; six of them
 * cost more than the whole inference in the profile, so the checks are composed here instead (each still
 * lives in its own file). Releases run in reverse order when the call ends, however it ends. Every guard
 * list starts with authentication or follows it, so a plan always names its principal.
 */
export function admissionMiddleware(guards: readonly Guard[]) {
  return async function* admit<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, CallPlanContext>,
    context: CallContext & Partial<TraceContext>,
  ) {
    let admitted: CallContext & Partial<AdmissionContext> = context;
    const releases: Array<() => void> = [];
    try {
      for (const guard of guards) {
        const verdict = guard(call, admitted);
        const result = verdict instanceof Promise ? await verdict : verdict;
        if (result?.context !== undefined) admitted = { ...admitted, ...result.context };
        if (result?.release !== undefined) releases.push(result.release);
      }
      const { principal, deadline } = admitted;
      if (principal === undefined) throw new Error(`no authentication guard admitted ${call.method.path}`);
      const plan: CallPlan = {
        signal: context.signal,
        deadline,
        priority: priorityOf(call.method.path),
        principal,
        trace: context.trace,
      };
      return yield* call.next(call.request, { ...context, plan });
    } finally {
      for (let i = releases.length - 1; i >= 0; i--) releases[i]!();
    }
  };
}

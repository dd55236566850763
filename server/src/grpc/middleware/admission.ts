import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { priorityOf } from '../../security/method-roles.js';
import type { CallPlan, CallPlanContext } from '../call-plan.js';
import type { TraceContext } from './trace-context.js';

/** What the guards establish, in order, on the way to the {@link CallPlan}; a guard fills in its part. */
export interface Admission {
  principal: CallPlan['principal'] | undefined;
  deadline: CallPlan['deadline'];
}

/** The call a guard looks at. */
export type GuardedCall = Pick<
  ServerMiddlewareCall<unknown, unknown>,
  'method' | 'requestStream' | 'responseStream'
>;

/** What a guard that lets the call in may return: what to do when the call ends. */
export type Release = () => void;

/**
 * One admission check (lifecycle, authentication, authorization, rate limit, deadline): it throws an
 * `AppError` to refuse the call, or lets it in, writing what it established into `admission` (which later
 * guards read). Guards are plain functions, run in order by {@link admissionMiddleware}.
 */
export type Guard = (
  call: GuardedCall,
  context: CallContext,
  admission: Admission,
) => Release | undefined | Promise<Release | undefined>;

/**
 * Runs `guards` in order before the handler, as one middleware, then hands the handler its
 * {@link CallPlan}. Each nice-grpc middleware is an async generator wrapped around the next; six of them
 * cost more than the whole inference in the profile, so the checks are composed here instead (each still
 * lives in its own file), and they fill one {@link Admission} rather than copying the context each.
 * Releases run in reverse order when the call ends, however it ends. Every guard list starts with
 * authentication or follows it, so a plan always names its principal.
 */
export function admissionMiddleware(guards: readonly Guard[]) {
  return async function* admit<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, CallPlanContext>,
    context: CallContext & Partial<TraceContext>,
  ) {
    const admission: Admission = { principal: undefined, deadline: undefined };
    const releases: Release[] = [];
    try {
      for (const guard of guards) {
        const verdict = guard(call, context, admission);
        const release = verdict instanceof Promise ? await verdict : verdict;
        if (release !== undefined) releases.push(release);
      }
      const { principal, deadline } = admission;
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

import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import type { Principal } from '../../security/principal.js';

/** What admission adds to the call context. */
export interface AdmissionContext {
  /** Who is calling (anonymous with every role when AUTH_MODE=none). */
  readonly principal: Principal;
  /**
   * `Date.now()` after which a unary call must stop: the client's deadline or REQUEST_TIMEOUT_MS, whichever
   * comes first; undefined for streams.
   */
  readonly deadline: number | undefined;
}

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
 * Runs `guards` in order before the handler, as one middleware. Each nice-grpc middleware is an async
 * generator wrapped around the next; six of them cost more than the whole inference in the profile, so the
 * checks are composed here instead (each still lives in its own file). Releases run in reverse order when
 * the call ends, however it ends.
 */
export function admissionMiddleware(guards: readonly Guard[]) {
  return async function* admit<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, AdmissionContext>,
    context: CallContext,
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
      return yield* call.next(call.request, admitted as CallContext & AdmissionContext);
    } finally {
      for (let i = releases.length - 1; i >= 0; i--) releases[i]!();
    }
  };
}

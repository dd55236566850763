import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import type { Lifecycle } from '../lifecycle/lifecycle.js';

/** The context extension that nice-grpc-server-health's Watch asks for. */
export interface TerminatorContext {
  abortOnTerminate(): void;
}

/**
 * For services with endless streams (health Watch): once the server drains, the call's signal aborts so
 * the stream ends and a graceful shutdown does not wait out its whole grace period for it.
 */
export function endOnDrainMiddleware(lifecycle: Lifecycle) {
  return async function* endOnDrain<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, TerminatorContext>,
    context: CallContext,
  ) {
    const signal = AbortSignal.any([context.signal, lifecycle.drainSignal]);
    return yield* call.next(call.request, { ...context, signal, abortOnTerminate: () => undefined });
  };
}

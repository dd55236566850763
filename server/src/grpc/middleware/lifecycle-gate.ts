import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { errors } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle/lifecycle.js';

/**
 * Lets calls in only while the server is `serving` (UNAVAILABLE while starting or draining, which
 * clients with a retry policy retry elsewhere) and counts the calls in flight.
 */
export function lifecycleGateMiddleware(lifecycle: Lifecycle) {
  return async function* lifecycleGate<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    if (lifecycle.state !== 'serving') throw errors.notServing(lifecycle.state);
    lifecycle.callStarted();
    try {
      return yield* call.next(call.request, context);
    } finally {
      lifecycle.callEnded();
    }
  };
}

import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';

/**
 * Caps every unary call at `timeoutMs` (REQUEST_TIMEOUT_MS), whatever deadline the client sent or
 * when it sent none: the handler's `context.signal` aborts with a TimeoutError at the cap, which the
 * error mapping turns into DEADLINE_EXCEEDED. The client's own deadline still aborts the signal earlier.
 * Streams are long-lived by design and are not capped.
 */
export function requestTimeoutMiddleware(timeoutMs: number) {
  return async function* requestTimeout<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    if (call.requestStream || call.responseStream) return yield* call.next(call.request, context);
    const signal = AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]);
    return yield* call.next(call.request, { ...context, signal });
  };
}

import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { errors } from '../../errors.js';

/**
 * A global cap on unary calls in flight (MAX_IN_FLIGHT): beyond it new calls are refused at once with
 * RESOURCE_EXHAUSTED instead of queueing behind work the server cannot finish in time. Streams are
 * bounded by their own window (STREAM_CHUNKS_IN_FLIGHT) and not counted.
 */
export function loadSheddingMiddleware(maxInFlight: number) {
  let inFlight = 0;
  return async function* shedCall<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    if (call.requestStream || call.responseStream) return yield* call.next(call.request, context);
    if (inFlight >= maxInFlight) throw errors.overloaded(maxInFlight);
    inFlight++;
    try {
      return yield* call.next(call.request, context);
    } finally {
      inFlight--;
    }
  };
}

import { errors } from '../../errors.js';
import type { Guard } from './admission.js';

/**
 * A global cap on unary calls in flight (MAX_IN_FLIGHT): beyond it new calls are refused at once with
 * RESOURCE_EXHAUSTED instead of queueing behind work the server cannot finish in time. Streams are
 * bounded by their own window (STREAM_CHUNKS_IN_FLIGHT) and not counted.
 */
export function loadSheddingGuard(maxInFlight: number): Guard {
  let inFlight = 0;
  const release = () => {
    inFlight--;
  };
  return (call) => {
    if (call.requestStream || call.responseStream) return undefined;
    if (inFlight >= maxInFlight) throw errors.overloaded(maxInFlight);
    inFlight++;
    return { release };
  };
}

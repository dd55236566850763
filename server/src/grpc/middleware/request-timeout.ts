import type { Guard } from './admission.js';

/**
 * Caps every unary call at `timeoutMs` (REQUEST_TIMEOUT_MS), whatever deadline the client sent or when it
 * sent none: handlers get `context.deadline` and stop at the next stage boundary once it has passed
 * (DEADLINE_EXCEEDED); the database query in between is bounded by its own statement_timeout, which is
 * below the cap. A timestamp instead of a timer signal: `AbortSignal.timeout` + `AbortSignal.any` per call
 * cost several percent of a call's CPU in the profile. The client's own deadline still cancels the call
 * (`context.signal`). Streams are long-lived by design and are not capped.
 */
export function deadlineGuard(timeoutMs: number): Guard {
  return (call) => {
    if (call.requestStream || call.responseStream) return undefined;
    return { context: { deadline: Date.now() + timeoutMs } };
  };
}

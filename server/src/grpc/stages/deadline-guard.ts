import { errors } from '../../errors.js';
import { UnaryCallContext } from '../call-context.js';
import type { Guard } from './admission.js';

/**
 * Gives every unary call its deadline: the client's (from `grpc-timeout`) or `timeoutMs` from now
 * (REQUEST_TIMEOUT_MS), whichever comes first, so handlers stop at the next stage boundary once it has
 * passed (DEADLINE_EXCEEDED); the database query in between is bounded by its own statement_timeout, which
 * is below the cap. A call whose deadline has already passed when it is admitted — it waited in the
 * transport or the event loop behind other work — is refused before any work is done. A timestamp instead
 * of a timer signal: `AbortSignal.timeout` + `AbortSignal.any` per call cost several percent of a call's
 * CPU in the profile. The client's cancellation still aborts the call (`context.signal`). Streams are
 * long-lived by design and are not capped.
 */
export function deadlineGuard(timeoutMs: number): Guard {
  return (call, context, admission) => {
    if (call.requestStream || call.responseStream) return undefined;
    const now = Date.now();
    const client = context instanceof UnaryCallContext ? context.clientDeadline : undefined;
    const deadline = client === undefined ? now + timeoutMs : Math.min(client, now + timeoutMs);
    if (deadline <= now) throw errors.deadlineExceeded('before the call was admitted');
    admission.deadline = deadline;
    return undefined;
  };
}

import { errors } from '../../errors.js';
import type { PrincipalLimits } from '../../security/principal-limits.js';
import type { Guard } from './admission.js';

/**
 * Holds calls to their principal's limits ({@link PrincipalLimits}): every call takes a token from the
 * principal's bucket (`RATE_LIMITS`), and a streaming call also counts against the principal's open
 * streams (`MAX_STREAMS_PER_PRINCIPAL`) until it ends, errors or is cancelled. A call over the rate gets
 * RESOURCE_EXHAUSTED with the wait in `retry-after` (seconds) and `grpc-retry-pushback-ms` (which gRPC
 * retry policies honour); one stream too many gets RESOURCE_EXHAUSTED naming the cap. The messages of a
 * scoring stream take their tokens in the handler (`PrincipalLimits.throttle`). The anonymous principal of
 * `AUTH_MODE=none` is not limited. A unary call allocates nothing here.
 */
export function rateLimitGuard(limits: PrincipalLimits): Guard {
  return (call, context, admission) => {
    const { principal } = admission;
    if (principal === undefined) return undefined;
    // The stream cap first: a stream refused for it has spent no token.
    const release = call.requestStream || call.responseStream ? limits.openStream(principal) : undefined;
    const waitMs = limits.take(principal);
    if (waitMs > 0) {
      release?.();
      context.trailer.set('retry-after', String(Math.ceil(waitMs / 1000)));
      context.trailer.set('grpc-retry-pushback-ms', String(waitMs));
      throw errors.rateLimited(principal.id, waitMs);
    }
    return release;
  };
}

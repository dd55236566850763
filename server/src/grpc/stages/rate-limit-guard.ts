import { errors } from '../../errors.js';
import type { BucketLimit, Role } from '../../config/security-config.js';
import { TokenBucket } from '../../security/token-bucket.js';
import type { Guard } from './admission.js';

/** Buckets not used for this long are forgotten (their principals start with a full bucket). */
const IDLE_BUCKET_MS = 10 * 60_000;

/**
 * Per-principal token buckets, sized by the principal's most generous role (`RATE_LIMITS`). A call over
 * the limit gets RESOURCE_EXHAUSTED with the wait in `retry-after` (seconds) and `grpc-retry-pushback-ms`
 * (which gRPC retry policies honour). The anonymous principal of `AUTH_MODE=none` is not limited.
 */
export function rateLimitGuard(limits: Partial<Record<Role, BucketLimit>>): Guard {
  const buckets = new Map<string, TokenBucket>();
  // Idle buckets are swept as calls come in, at most once per IDLE_BUCKET_MS: no timer of its own.
  let sweptAt = performance.now();
  const sweep = (now: number) => {
    if (now - sweptAt < IDLE_BUCKET_MS) return;
    sweptAt = now;
    for (const [id, bucket] of buckets) if (now - bucket.lastUsedAt > IDLE_BUCKET_MS) buckets.delete(id);
  };

  const limitOf = (roles: ReadonlySet<Role>): BucketLimit | undefined =>
    [...roles]
      .map((role) => limits[role])
      .filter((limit): limit is BucketLimit => limit !== undefined)
      .sort((a, b) => b.ratePerSecond - a.ratePerSecond)[0];

  return (_, context, admission) => {
    const { principal } = admission;
    if (principal !== undefined && principal.via !== 'anonymous') {
      const limit = limitOf(principal.roles);
      if (limit !== undefined) {
        const now = performance.now();
        sweep(now);
        let bucket = buckets.get(principal.id);
        if (bucket === undefined || bucket.limit !== limit) {
          bucket = new TokenBucket(limit, now);
          buckets.set(principal.id, bucket);
        }
        const waitMs = bucket.take(now);
        if (waitMs > 0) {
          context.trailer.set('retry-after', String(Math.ceil(waitMs / 1000)));
          context.trailer.set('grpc-retry-pushback-ms', String(waitMs));
          throw errors.rateLimited(principal.id, waitMs);
        }
      }
    }
    return undefined;
  };
}

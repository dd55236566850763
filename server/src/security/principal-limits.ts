import { setTimeout as sleep } from 'node:timers/promises';
import { ROLES, type BucketLimit, type Role } from '../config/security-config.js';
import { errors } from '../errors.js';
import type { Principal } from './principal.js';
import { TokenBucket } from './token-bucket.js';

/** Buckets not used for this long are forgotten (their principals start with a full bucket). */
const IDLE_BUCKET_MS = 10 * 60_000;

/** Options for {@link PrincipalLimits}. */
export interface PrincipalLimitsOptions {
  /** `RATE_LIMITS`: the bucket of each role. */
  readonly rateLimits: Partial<Record<Role, BucketLimit>>;
  /** `MAX_STREAMS_PER_PRINCIPAL`: streams one principal may have open at once; 0 = unlimited. */
  readonly maxStreamsPerPrincipal: number;
  /** The clock, in ms. @default performance.now */
  readonly now?: () => number;
  /** Waits `ms` unless `signal` aborts first (then rejects with an `AbortError`). @default timers/promises */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * What one principal may spend, whichever RPC it calls: one token bucket per principal id, sized by its
 * most generous role (`RATE_LIMITS`), from which every call takes a token and every message of a scoring
 * stream takes one more; and a count of its open streams, capped at `MAX_STREAMS_PER_PRINCIPAL`. The
 * anonymous principal of `AUTH_MODE=none` is not limited.
 *
 * A stream over its rate is slowed, not ended ({@link throttle}): it stops reading until a token is back,
 * so HTTP/2 flow control holds the sender at the rate. A batch job then finishes at the rate it was given;
 * ending the stream instead would throw away the chunks in flight and have the job reconnect and resend
 * from its checkpoint, spending tokens again. What a waiting stream holds is bounded by the stream cap
 * and STREAM_CHUNKS_IN_FLIGHT.
 */
export class PrincipalLimits {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly streams = new Map<string, number>();
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private sweptAt: number;

  constructor(private readonly options: PrincipalLimitsOptions) {
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms, signal) => sleep(ms, undefined, { signal, ref: false }));
    this.sweptAt = this.now();
  }

  /**
   * Takes one of the principal's tokens (for a call, or a stream message). Allocates nothing once the
   * principal has its bucket: it runs on every unary call.
   *
   * @returns 0 when granted (or the principal is not limited), else the ms until a token is back.
   */
  take(principal: Principal): number {
    if (principal.via === 'anonymous') return 0;
    const limit = this.limitOf(principal.roles);
    if (limit === undefined) return 0;
    const now = this.now();
    this.sweep(now);
    let bucket = this.buckets.get(principal.id);
    if (bucket === undefined || bucket.limit !== limit) {
      bucket = new TokenBucket(limit, now);
      this.buckets.set(principal.id, bucket);
    }
    return bucket.take(now);
  }

  /**
   * Counts a stream the principal opens.
   *
   * @returns what to call when the stream ends (idempotent), or undefined when the principal is not capped.
   * @throws AppError RESOURCE_EXHAUSTED (`ERR_PRINCIPAL_STREAM_LIMIT`) when it has the cap open already.
   */
  openStream(principal: Principal): (() => void) | undefined {
    const max = this.options.maxStreamsPerPrincipal;
    if (max === 0 || principal.via === 'anonymous') return undefined;
    const { id } = principal;
    const open = this.streams.get(id) ?? 0;
    if (open >= max) throw errors.principalStreamLimit(id, max);
    this.streams.set(id, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.streams.get(id) ?? 1) - 1;
      if (left > 0) this.streams.set(id, left);
      else this.streams.delete(id);
    };
  }

  /** Streams the principal has open now. */
  openStreams(principal: Principal): number {
    return this.streams.get(principal.id) ?? 0;
  }

  /**
   * The messages of a scoring stream, each let through once it has taken one of the principal's tokens:
   * with the bucket empty, the next message is not read until a token is back (backpressure).
   *
   * The messages of a principal without a limit are passed on as they are.
   *
   * @throws AbortError when `signal` aborts while a message waits for its token.
   */
  throttle<T>(messages: AsyncIterable<T>, principal: Principal, signal: AbortSignal): AsyncIterable<T> {
    if (principal.via === 'anonymous' || this.limitOf(principal.roles) === undefined) return messages;
    return this.throttled(messages, principal, signal);
  }

  private async *throttled<T>(
    messages: AsyncIterable<T>,
    principal: Principal,
    signal: AbortSignal,
  ): AsyncGenerator<T> {
    for await (const message of messages) {
      for (let waitMs = this.take(principal); waitMs > 0; waitMs = this.take(principal)) {
        await this.sleep(waitMs, signal);
      }
      yield message;
    }
  }

  /** The bucket of the principal's most generous role; loops over the role names so as not to allocate. */
  private limitOf(roles: ReadonlySet<Role>): BucketLimit | undefined {
    let best: BucketLimit | undefined;
    for (let i = 0; i < ROLES.length; i++) {
      const role = ROLES[i]!;
      const limit = roles.has(role) ? this.options.rateLimits[role] : undefined;
      if (limit !== undefined && (best === undefined || limit.ratePerSecond > best.ratePerSecond))
        best = limit;
    }
    return best;
  }

  /** Forgets idle buckets, as calls come in and at most once per IDLE_BUCKET_MS: no timer of its own. */
  private sweep(now: number): void {
    if (now - this.sweptAt < IDLE_BUCKET_MS) return;
    this.sweptAt = now;
    for (const [id, bucket] of this.buckets)
      if (now - bucket.lastUsedAt > IDLE_BUCKET_MS) this.buckets.delete(id);
  }
}
